"""K copies of one MLP as stacked weights: a hand-written batched forward, no `vmap`.

Every `nn.Linear` of the K models becomes one leaf tensor per parameter with a leading seed dim:
weights are stored transposed, (K, in, out), biases as (K, 1, out), so a layer is one
`torch.baddbmm(b, h, W)` on activations h of shape (K, B, in) and its backward is two `bmm`s on
transposed views (no copies, unlike `vmap(functional_call)`, whose batched `F.linear` made its
weight transposes contiguous). Other parameters (skip_layer's constant `bias`) are stacked as
they are. The forward of each covered family is written out below, line for line the module's
own `forward` with `lin(name, h)` in place of `self.<name>(h)`:

    plain_mlp, telescope_mlp, resnet_mlp (stochastic_depth 1), highway_mlp, dense_skip_mlp,
    skip_layer_mlp.

Masks (skip_mask, block_mask) and branch_multiplier are read from model 0 and must be the same in
every model (`reason()` checks). Per-seed layer statistics (mean |W|, weight-gradient norm of
each `layer_names()` entry) are reductions over dims 1.. of the stacked tensors.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn

FAMILIES = ("PlainMLP", "TelescopeMLP", "ResNetMLP", "HighwayMLP", "DenseSkipMLP", "SkipLayerMLP")


def reason(models: Sequence[nn.Module]) -> Optional[str]:
    """Why these models have no stacked forward (None: they have)."""
    m0 = models[0]
    name = type(m0).__name__
    if name not in FAMILIES:
        return f"no stacked forward for {name} (covered: {', '.join(FAMILIES)})"
    if any(type(m) is not type(m0) for m in models):
        return "models of different families"
    if name == "ResNetMLP" and any(b.drop_path.p < 1.0 for b in m0.layers):
        return "stochastic depth draws from other RNG streams"
    for m in models[1:]:
        for (n, a), (_, b) in zip(m0.named_buffers(), m.named_buffers()):
            if a.shape != b.shape or not torch.equal(a, b):
                return f"buffer {n} differs between models"
        if getattr(m, "layers", None) is not None and name == "ResNetMLP":
            if any(x.branch_multiplier != y.branch_multiplier for x, y in zip(m0.layers, m.layers)):
                return "branch_multiplier differs between models"
    return None


class Stacked:
    """The stacked parameters of K models of one family, and their batched forward."""

    def __init__(self, models: Sequence[nn.Module], device: torch.device) -> None:
        self.base = models[0]
        self.K = len(models)
        linears = {n for n, m in self.base.named_modules() if isinstance(m, nn.Linear)}
        self.shapes: dict[str, torch.Size] = {}
        self.transposed: set[str] = set()
        self.params: dict[str, Tensor] = {}
        with torch.no_grad():
            for n, p in self.base.named_parameters():
                mod, _, leaf = n.rpartition(".")
                rows = torch.stack([dict(m.named_parameters())[n].detach().to(device) for m in models])
                self.shapes[n] = p.shape
                if mod in linears and leaf == "weight":
                    rows = rows.transpose(1, 2)
                    self.transposed.add(n)
                elif p.dim() == 1:
                    rows = rows.unsqueeze(1)
                self.params[n] = rows.contiguous().requires_grad_(p.requires_grad)
        self.layer_weights = [f"{n}.weight" for n in _layer_names(self.base)]
        self.forward: Callable[[Tensor], Tensor] = _FORWARDS[type(self.base).__name__](self)

    # -- parameters ---------------------------------------------------------------------
    def leaves(self) -> list[Tensor]:
        """In `named_parameters()` order, so optimizer state indices match a single model's."""
        return [self.params[n] for n in self.shapes if self.params[n].requires_grad]

    def unstack(self, name: str, rows: Tensor) -> Tensor:
        """One seed's slice (or a state tensor shaped like it) back in the module's layout."""
        t = rows.transpose(0, 1) if name in self.transposed else rows.reshape(self.shapes[name])
        return t.contiguous()

    def write_back(self, k: int, model: nn.Module) -> None:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(self.unstack(n, self.params[n][k]))

    def keep(self, rows: Tensor) -> None:
        """Drop the seeds not in `rows` (a long index tensor): new leaves of the kept seeds."""
        with torch.no_grad():
            for n, p in self.params.items():
                self.params[n] = p[rows].clone().requires_grad_(p.requires_grad)
        self.K = len(rows)

    # -- the forward's one building block ----------------------------------------------
    def lin(self, name: str, h: Tensor) -> Tensor:
        w, b = self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
        return torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)

    # -- per-seed layer statistics, (L, K) ---------------------------------------------
    def weight_mean_abs(self) -> Tensor:
        with torch.no_grad():
            return torch.stack([self.params[n].abs().flatten(1).mean(1) for n in self.layer_weights]).float()

    def grad_norms(self) -> Tensor:
        out = []
        for n in self.layer_weights:
            g = self.params[n].grad
            out.append(torch.zeros(self.K, device=self.params[n].device) if g is None
                       else torch.linalg.vector_norm(g.detach().flatten(1), dim=1))
        return torch.stack(out).float()


def _layer_names(model: nn.Module) -> list[str]:
    from skipcore.probes.stats import layer_names

    return layer_names(model)


def slice_optimizer_state(sd: dict[str, Any], st: Stacked, names: list[str], pick: Callable[[str, Tensor], Tensor]
                          ) -> dict[str, Any]:
    """A copy of an optimizer state_dict with every per-parameter tensor replaced by `pick`."""
    state = {}
    for idx, s in sd["state"].items():
        name = names[idx]
        full = st.params[name].shape
        state[idx] = {k: (pick(name, v) if isinstance(v, Tensor) and v.shape == full else v) for k, v in s.items()}
    return {"state": state, "param_groups": sd["param_groups"]}


# -- the family forwards (x: (K, B, ...) -> (K, B, out)) ---------------------------------
def _plain(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        h = x.flatten(2)
        for i in range(m.depth):
            h = m.act(st.lin(f"hidden.{i}", h))
        return st.lin("output", h)
    return fwd


def _telescope(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        h, outs = x.flatten(2), []
        for i in range(m.depth):
            h = m.act(st.lin(f"hidden.{i}", h))
            outs.append(h)
        mask = m.skip_mask.to(outs[-1].dtype)
        z = outs[-1]
        for i, hi in enumerate(outs):
            z = z + mask[i] * hi
        return st.lin("output", z)
    return fwd


def _resnet(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        h = st.lin("input", x.flatten(2))
        for i, b in enumerate(m.layers):
            y = h + b.branch_multiplier * st.lin(f"layers.{i}.fc2", b.act(st.lin(f"layers.{i}.fc1", b.act(h))))
            h = torch.where(m.block_mask[i], y, h)
        return st.lin("output", m.act(h))
    return fwd


def _highway(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        h = st.lin("input", x.flatten(2))
        for i, b in enumerate(m.layers):
            t = torch.sigmoid(st.lin(f"layers.{i}.gate.linear", h))
            y = h + t * (b.act(st.lin(f"layers.{i}.transform", h)) - h)
            h = torch.where(m.block_mask[i], y, h)
        return st.lin("output", h)
    return fwd


def _dense(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        hs = [x.flatten(2)]
        mask = m.skip_mask.to(hs[0].dtype)
        k = 0
        for j in range(1, len(m.sizes)):
            a = st.lin(f"main.{j - 1}", hs[j - 1])
            for i in range(j - 1) if m.pairs else ():
                a = a + mask[k] * st.lin(f"skips.{i}_{j}", hs[i])
                k += 1
            hs.append(m.act(a) if j <= m.n_hidden else a)
        return hs[-1]
    return fwd


def _skip_layer(st: Stacked):
    m = st.base

    def fwd(x: Tensor) -> Tensor:
        h = x.flatten(2)
        zeros = torch.zeros(*h.shape[:2], m.out_features, device=h.device, dtype=h.dtype)
        if m.output is None:
            hidden = zeros + st.params["bias"] if m.bias is not None else zeros
        else:
            for i in range(m.depth):
                h = m.act(st.lin(f"hidden.{i}", h))
            hidden = st.lin("output", h)
        linear = zeros if m.direct is None else st.lin("direct", x.flatten(2))
        return hidden + linear
    return fwd


_FORWARDS = {"PlainMLP": _plain, "TelescopeMLP": _telescope, "ResNetMLP": _resnet, "HighwayMLP": _highway,
             "DenseSkipMLP": _dense, "SkipLayerMLP": _skip_layer}
