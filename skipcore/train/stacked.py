"""K copies of one MLP as stacked weights: a batched forward, no `vmap`.

Every `nn.Linear` of the K models becomes one leaf tensor per parameter with a leading seed dim:
weights are stored transposed, (K, in, out), biases as (K, 1, out), so a layer is one
`torch.baddbmm(b, h, W)` on activations h of shape (K, B, in) and its backward is two `bmm`s on
transposed views (no copies, unlike `vmap(functional_call)`, whose batched `F.linear` made its
weight transposes contiguous). Other parameters (skip_layer's constant `bias`) are stacked as
they are. The forward itself is the family's: each model module registers it next to the module
it mirrors (`skipcore.models.stacking`), looked up by the model's class; `Stacked` is the `lin`
it applies its Linears through.

Masks (skip_mask, block_mask) and every other setting (branch_multiplier, ...) are read from
model 0 and must be the same in every model (`reason()` checks). Per-seed layer statistics (mean
|W|, weight-gradient norm of each `layer_names()` entry) are reductions over dims 1.. of the
stacked tensors.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from skipcore.models.stacking import forward_for, registered
from skipcore.nn.drop_path import DropPath, StochasticDepth


def _settings(model: nn.Module) -> list[tuple[str, dict[str, Any]]]:
    """Every submodule's plain attributes (sizes, multipliers, flags): what a forward reads besides tensors."""
    return [(name, {k: v for k, v in vars(mod).items() if not k.startswith("_") and k != "training" and not isinstance(v, Tensor)})
            for name, mod in model.named_modules()]


def reason(models: Sequence[nn.Module]) -> Optional[str]:
    """Why these models have no stacked forward (None: they have)."""
    m0 = models[0]
    if forward_for(m0) is None:
        covered = sorted(cls.__name__ for cls in registered())
        return f"no stacked forward for {type(m0).__name__} (covered: {', '.join(covered)})"
    if any(type(m) is not type(m0) for m in models):
        return "models of different families"
    for m in m0.modules():
        if isinstance(m, nn.Dropout) or (isinstance(m, (DropPath, StochasticDepth)) and m.p < 1.0):
            return "random layers (dropout / stochastic depth) draw from other RNG streams"
    settings = _settings(m0)
    for m in models[1:]:
        for (n, a), (_, b) in zip(m0.named_buffers(), m.named_buffers()):
            if a.shape != b.shape or not torch.equal(a, b):
                return f"buffer {n} differs between models"
        if _settings(m) != settings:
            return "module settings (e.g. branch_multiplier) differ between models"
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
        self._names = {id(m): n for n, m in self.base.named_modules()}
        self._linears = {id(m): partial(self.lin, n) for n, m in self.base.named_modules() if n in linears}
        self._forward = partial(forward_for(self.base), self.base, self)

    def forward(self, x: Tensor) -> Tensor:
        """(K, B, ...) -> (K, B, out): the family's stacked forward (`skipcore.models.stacking`)."""
        return self._forward(x)

    def __call__(self, module: nn.Module) -> Callable[[Tensor], Tensor]:
        """`lin(module)` of a stacked forward: that Linear of model 0, applied with every seed's weights."""
        return self._linears[id(module)]

    def param(self, owner: nn.Module, name: str) -> Tensor:
        """A stacked parameter of model 0's `owner` that is not a Linear's, (K, 1, ...) for a vector."""
        prefix = self._names[id(owner)]
        return self.params[f"{prefix}.{name}" if prefix else name]

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
