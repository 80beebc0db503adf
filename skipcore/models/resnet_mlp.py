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

from typing import Sequence

import torch
from torch import Tensor, nn

from skipcore.models.common import bool_mask, in_features, make_activation
from skipcore.models.init import init_layer
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


class ResNetMLP(nn.Module):
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
        if depth < 1 or width < 1:
            raise ValueError(f"ResNetMLP needs depth >= 1 and width >= 1, got depth={depth!r}, width={width!r}")
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
        scheme = "he" if init == "zero_residual" else init
        for name in self.layer_names():
            init_layer(self.get_submodule(name), scheme, activation=self.activation)
        if init == "zero_residual":
            for _, block in self.blocks():
                block.zero_init_last()

    def layer_names(self) -> list[str]:
        inner = [f"layers.{i}.{fc}" for i in range(self.depth) for fc in ("fc1", "fc2")]
        return ["input", *inner, "output"]

    def blocks(self) -> list[tuple[str, nn.Module]]:
        return [(f"layers.{i}", b) for i, b in enumerate(self.layers)]

    def set_blocks(self, mask: bool | Sequence[bool] | Tensor) -> None:
        """Keep (True) or lesion (False: y = x) each block; True/False for all or `depth` bools."""
        self.block_mask.copy_(bool_mask(mask, self.depth, "block_mask"))

    def block_inputs(self, x: Tensor) -> list[Tensor]:
        return self._run(x)[1]

    def features(self, x: Tensor) -> Tensor:
        """x_L, the residual stream after the last block (before the closing activation)."""
        return self._run(x)[0]

    def _run(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h, inputs = self.input(x.flatten(1)), []
        for i, block in enumerate(self.layers):
            inputs.append(h)
            h = torch.where(self.block_mask[i], block(h), h)
        return h, inputs

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.features(x)))


def build(params, info) -> ResNetMLP:
    return ResNetMLP(
        in_features=in_features(info.in_shape),
        out_features=info.n_outputs,
        depth=params.depth,
        width=params.width,
        activation=params.activation,
        init=params.init,
        residual_scale=params.residual_scale,
        stochastic_depth=params.stochastic_depth,
    )
