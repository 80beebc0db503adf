"""dense_skip_mlp (seed 001, fig 1): an MLP whose non-adjacent layers are also fully connected.

Layers are numbered 0..n+1 with sizes [in] + widths + [out] (layer 0 is the input, n+1 the
output). With h_0 = x, layer j = 1..n+1 computes

    a_j = W_{j-1->j} h_{j-1} + b_j + sum_{i < j-1} m_{i->j} S_{i->j} h_i
    h_j = act(a_j) for hidden layers (j <= n);   y = a_{n+1} (the logits, no activation)

so every pair of non-adjacent layers i < j, the input included, has its own full weight matrix
S_{i->j} (no bias: each layer's bias is counted once, on its main connection). `skips=False`
builds the vanilla MLP (no S at all). With skips built, `skip_mask` (one bool per skip, in the
order of `skip_pairs()`) switches them; with every mask off the network computes exactly the
vanilla MLP with the same main weights. The skip* training of seed 001 (table 2) starts with
`set_skips(False)` and turns them on for phase 2 (see `skipcore.train.loop`). Masking multiplies
by 0/1 (no host sync), so a masked skip still costs its matmul and receives zero gradient.

Initialisation (`init`), for pairing skips on vs off: treat layer j's inputs [h_0, .., h_{j-1}]
as one layer of total fan-in F_j = sum_{i<j} sizes[i] with skips built (F_j = sizes[j-1]
without). `default` and `he` draw every weight of layer j from that scheme's distribution for
F_j (default: U(+-1/sqrt(F_j)) weights and biases; he: N(0, gain^2/F_j) weights, zero biases),
as unit draws times a scale (`skipcore.models.init.draw_`): the main weights are drawn from the
global torch generator, in layer order, and the skip weights from a generator of their own,
seeded from the seed the global generator was last seeded with (`torch.initial_seed()`, the
run's seed), so building skips consumes nothing of the global stream. Same seed, skips on vs
off: the main weights (and biases) are the same draws, scaled by sqrt(sizes[j-1] / F_j) in the
arm with skips. `init_fan_in="main"` draws the main weights for their main fan-in sizes[j-1] in
both arms instead (then they are equal, not just proportional: skip*'s first phase, skips built but
off, trains exactly the vanilla network), the skip weights still for F_j. `identity`: the square main layers are the identity, the other main layers (the
input layer and every size change, the output layer) he for their main fan-in, every bias and
every skip weight zero, so the network starts as the identity-initialised vanilla MLP in both arms.

Seed sizes: EMNIST widths [128, 256] (3-layer) or [128, 256, 256] (4-layer) -> 26;
CIFAR-10 widths [512, 256] or [512, 256, 256] -> 10.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import bool_mask, in_features, make_activation, spec_args
from skipcore.models.init import draw_, init_layer
from skipcore.models.stacking import UNSTACKED, StackedLinears, stacked_forward


def skip_seed(seed: int) -> int:
    """The skip layers' generator seed for a run seed: a fixed hash, independent of the global stream."""
    digest = hashlib.sha256(f"dense_skip_mlp.skips:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class DenseSkipMLP(nn.Module):
    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        widths: Sequence[int],
        skips: bool = True,
        activation: str = "relu",
        init: str = "he",
        init_fan_in: str = "total",
    ) -> None:
        super().__init__()
        if init_fan_in not in ("total", "main"):
            raise ValueError(f"init_fan_in must be 'total' or 'main', got {init_fan_in!r}")
        self.init_fan_in = init_fan_in
        if not widths or min(widths) < 1:
            raise ValueError(f"DenseSkipMLP needs at least one width, all >= 1, got {list(widths)!r}")
        self.sizes = [in_features, *widths, out_features]
        self.activation = activation
        self.n_hidden = len(widths)
        # main[j-1] is W_{j-1 -> j}, for j = 1..n+1
        self.main = nn.ModuleList(nn.Linear(self.sizes[j - 1], self.sizes[j]) for j in range(1, len(self.sizes)))
        self.pairs = [(i, j) for j in range(2, len(self.sizes)) for i in range(j - 1)] if skips else []
        # skip_init: built without drawing from the global generator (their init draws from their own)
        self.skips = nn.ModuleDict(
            {f"{i}_{j}": nn.utils.skip_init(nn.Linear, self.sizes[i], self.sizes[j], bias=False) for i, j in self.pairs}
        )
        self.act = make_activation(activation)
        self.register_buffer("skip_mask", torch.ones(len(self.pairs), dtype=torch.bool))
        self._init_weights(init)

    def fan_in(self, j: int) -> int:
        """Total fan-in of layer j (1..n+1): its main input, plus every skip input when skips exist."""
        return sum(self.sizes[: j]) if self.pairs else self.sizes[j - 1]

    def _init_weights(self, init: str) -> None:
        """See the module docstring: main path from the global generator, skips from their own."""
        if init not in ("he", "default", "identity"):
            raise ValueError(f"dense_skip_mlp init must be 'he', 'default' or 'identity', got {init!r}")
        for j, layer in enumerate(self.main, start=1):
            square = layer.in_features == layer.out_features and j <= self.n_hidden and j > 1
            if init == "identity":
                init_layer(layer, "identity" if square else "he", activation=self.activation)
                continue
            fan = self.fan_in(j) if self.init_fan_in == "total" else self.sizes[j - 1]
            draw_(layer.weight, init, fan_in=fan, activation=self.activation)
            draw_(layer.bias, init, fan_in=fan, activation=self.activation, bias=True)
        gen = torch.Generator().manual_seed(skip_seed(torch.initial_seed()))
        for i, j in self.pairs:
            w = self.skips[f"{i}_{j}"].weight
            if init == "identity":
                nn.init.zeros_(w)
            else:
                draw_(w, init, fan_in=self.fan_in(j), activation=self.activation, generator=gen)

    def layer_names(self) -> list[str]:
        return [f"main.{k}" for k in range(len(self.main))] + [f"skips.{i}_{j}" for i, j in self.pairs]

    def skip_pairs(self) -> list[tuple[int, int]]:
        return list(self.pairs)

    def set_skips(self, mask: bool | Sequence[bool] | Tensor) -> None:
        """Enable/disable the skips (True/False for all, or one bool per `skip_pairs()` entry)."""
        self.skip_mask.copy_(bool_mask(mask, len(self.pairs), "skip_mask"))

    def forward(self, x: Tensor) -> Tensor:
        return _forward(self, UNSTACKED, x.flatten(1))


@family("dense_skip_mlp", stackable=True)
def build(params, info) -> DenseSkipMLP:
    return DenseSkipMLP(in_features=in_features(info.in_shape), out_features=info.n_outputs,
                        **spec_args(params, "widths", "skips", "init_fan_in", "activation", "init"))


# -- the forward, for one model or K stacked seeds (skipcore.models.stacking) ------------------
def _forward(m: DenseSkipMLP, lin: StackedLinears, h: Tensor) -> Tensor:
    hs = [h]
    mask = m.skip_mask.to(hs[0].dtype)
    k = 0  # index into m.pairs, which is ordered by j then i
    for j in range(1, len(m.sizes)):
        a = lin(m.main[j - 1])(hs[j - 1])
        for i in range(j - 1) if m.pairs else ():
            a = a + mask[k] * lin(m.skips[f"{i}_{j}"])(hs[i])
            k += 1
        hs.append(m.act(a) if j <= m.n_hidden else a)
    return hs[-1]


@stacked_forward(DenseSkipMLP)
def stacked(m: DenseSkipMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    return _forward(m, lin, x.flatten(2))
