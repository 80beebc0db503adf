"""highway_mlp: an input projection to `width`, then `depth` highway layers (Srivastava et al. 2015).

    x_0 = W_in x
    x_l = T(x) * H(x) + (1 - T(x)) * x,   H(x) = act(W_H x + b_H),  T(x) = sigmoid(W_T x + b_T)
    y   = W_out x_L

b_T starts at `gate_bias` (negative: the layer starts mostly carrying x). Written as a residual
block, shortcut(x) = x and branch(x) = T(x) * (H(x) - x), so y = shortcut + branch; with the gate
closed (b_T -> -inf) every layer is exactly the identity. Same block interface as resnet_mlp:
`blocks()`, `block_mask` / `set_blocks()`, `block_inputs(x)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import (LayerBlocks, UniformMLP, block_layer_names, init_named, make_activation, mlp_args,
                                    stacked_blocks)
from skipcore.models.stacking import StackedLinears, stacked_forward
from skipcore.nn.gates import TransformGate, highway


class HighwayBlock(nn.Module):
    def __init__(self, *, width: int, activation: str, gate_bias: float) -> None:
        super().__init__()
        self.transform = nn.Linear(width, width)
        self.gate = TransformGate(width, bias=gate_bias)
        self.act = make_activation(activation)
        self.downsample = False

    def branch(self, x: Tensor) -> Tensor:
        return self.gate(x) * (self.act(self.transform(x)) - x)

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return highway(x, self.act(self.transform(x)), self.gate(x))


class HighwayMLP(LayerBlocks, UniformMLP):
    """See the module docstring; keyword arguments as `UniformMLP` (activation relu, init he) and
    `gate_bias` (default -2)."""

    def _layers(self, in_features: int, out_features: int, gate_bias: float = -2.0) -> None:
        self.input = nn.Linear(in_features, self.width)
        self.layers = nn.ModuleList(
            HighwayBlock(width=self.width, activation=self.activation, gate_bias=gate_bias) for _ in range(self.depth)
        )
        self.output = nn.Linear(self.width, out_features)
        self.register_buffer("block_mask", torch.ones(self.depth, dtype=torch.bool))

    def _init_weights(self, init: str) -> None:
        init_named(self, init)
        for block in self.layers:
            block.gate.reset_bias()

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth, ("transform", "gate.linear"))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.features(x))


@family("highway_mlp", stackable=True)
def build(params, info) -> HighwayMLP:
    return HighwayMLP(**mlp_args(params, info, "gate_bias"))


# -- K stacked seeds (skipcore.models.stacking) ------------------------------------------------
@stacked_forward(HighwayMLP)
def stacked(m: HighwayMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    def block(b: HighwayBlock, h: Tensor) -> Tensor:  # HighwayBlock.forward
        return highway(h, b.act(lin(b.transform)(h)), torch.sigmoid(lin(b.gate.linear)(h)))

    return lin(m.output)(stacked_blocks(m, lin, x, block))
