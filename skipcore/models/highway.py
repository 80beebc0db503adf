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

from typing import Sequence

import torch
from torch import Tensor, nn

from skipcore.models.common import bool_mask, in_features, make_activation
from skipcore.models.init import init_layer
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


class HighwayMLP(nn.Module):
    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        depth: int,
        width: int,
        activation: str = "relu",
        gate_bias: float = -2.0,
        init: str = "he",
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"HighwayMLP needs depth >= 1 and width >= 1, got depth={depth!r}, width={width!r}")
        self.depth, self.width, self.activation = depth, width, activation
        self.input = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(
            HighwayBlock(width=width, activation=activation, gate_bias=gate_bias) for _ in range(depth)
        )
        self.output = nn.Linear(width, out_features)
        self.register_buffer("block_mask", torch.ones(depth, dtype=torch.bool))
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        for name in self.layer_names():
            init_layer(self.get_submodule(name), init, activation=self.activation)
        for block in self.layers:
            block.gate.reset_bias()

    def layer_names(self) -> list[str]:
        inner = [f"layers.{i}.{fc}" for i in range(self.depth) for fc in ("transform", "gate.linear")]
        return ["input", *inner, "output"]

    def blocks(self) -> list[tuple[str, nn.Module]]:
        return [(f"layers.{i}", b) for i, b in enumerate(self.layers)]

    def set_blocks(self, mask: bool | Sequence[bool] | Tensor) -> None:
        """Keep (True) or lesion (False: y = x) each layer; True/False for all or `depth` bools."""
        self.block_mask.copy_(bool_mask(mask, self.depth, "block_mask"))

    def block_inputs(self, x: Tensor) -> list[Tensor]:
        return self._run(x)[1]

    def features(self, x: Tensor) -> Tensor:
        return self._run(x)[0]

    def _run(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h, inputs = self.input(x.flatten(1)), []
        for i, block in enumerate(self.layers):
            inputs.append(h)
            h = torch.where(self.block_mask[i], block(h), h)
        return h, inputs

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.features(x))


def build(params, info) -> HighwayMLP:
    return HighwayMLP(
        in_features=in_features(info.in_shape),
        out_features=info.n_outputs,
        depth=params.depth,
        width=params.width,
        activation=params.activation,
        gate_bias=params.gate_bias,
        init=params.init,
    )
