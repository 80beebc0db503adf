"""resnet_mlp: pre-activation (ResNet V2) residual MLP blocks, no batch norm (seed 000 fig 3).

    x_0 = W_in x                          (input projection to `width`)
    x_l = x_{l-1} + s * F_l(x_{l-1}),     F_l(x) = W2 act(W1 act(x))      (l = 1..depth)
    y   = W_out act(x_L)                  (the final pre-activation nets' closing activation)

`residual_scale` is s. `stochastic_depth` is the survival probability p_L of the last block;
block l survives with p_l = 1 - (l / L)(1 - p_L) (Huang et al. 2016's linear decay) in training
and is always kept, unscaled, at inference (`skipcore.nn.drop_path`). `init="zero_residual"` is
He init with W2 (and its bias) of every block zeroed, so every block starts as the identity.

Block interface (probes identity_ratio / block_lesion): `blocks()` -> [(name, block)], each
block has `branch(x)` (= s F(x), no drop) and `shortcut(x)` (= x); `block_mask` is a bool
buffer (False lesions a block: y = x), set with `set_blocks(mask)`; `block_inputs(x)` lists the
input tensor of every block.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skipcore.models.common import LayerBlocks, block_layer_names, check_size, init_named, make_activation, mlp_args
from skipcore.nn.drop_path import DropPath


class PreActBlock(nn.Module):
    def __init__(self, *, width: int, activation: str, residual_scale: float = 1.0, survival: float = 1.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = make_activation(activation)
        self.residual_scale = residual_scale
        self.drop_path = DropPath(survival)
        self.downsample = False

    def branch(self, x: Tensor) -> Tensor:
        return self.residual_scale * self.fc2(self.act(self.fc1(self.act(x))))

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.drop_path(self.branch(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def extra_repr(self) -> str:
        return f"residual_scale={self.residual_scale:g}"


class ResNetMLP(LayerBlocks, nn.Module):
    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        depth: int,
        width: int,
        activation: str = "relu",
        init: str = "he",
        residual_scale: float = 1.0,
        stochastic_depth: float = 1.0,
    ) -> None:
        super().__init__()
        check_size("ResNetMLP", depth, width)
        self.depth, self.width, self.activation = depth, width, activation
        self.input = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(
            PreActBlock(
                width=width,
                activation=activation,
                residual_scale=residual_scale,
                survival=1.0 - (l / depth) * (1.0 - stochastic_depth),
            )
            for l in range(1, depth + 1)
        )
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features)
        self.register_buffer("block_mask", torch.ones(depth, dtype=torch.bool))
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        init_named(self, "he" if init == "zero_residual" else init)
        if init == "zero_residual":
            for _, block in self.blocks():
                block.zero_init_last()

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth, ("fc1", "fc2"))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.features(x)))


def build(params, info) -> ResNetMLP:
    return ResNetMLP(**mlp_args(params, info, "residual_scale", "stochastic_depth"))
