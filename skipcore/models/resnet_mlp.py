"""resnet_mlp: pre-activation (ResNet V2) residual MLP blocks, no batch norm (seed 000 fig 3).

    x_0 = W_in x                          (input projection to `width`)
    x_l = x_{l-1} + s * F_l(x_{l-1}),     F_l(x) = W2 act(W1 act(x))      (l = 1..depth)
    y   = W_out act(x_L)                  (the final pre-activation nets' closing activation)

`branch_multiplier` is s (a constant in every forward; 1 = off). `residual_scale` a is residual
scaling at initialisation: after the init, W2 and its bias of every block are multiplied by a
once (`scale_last`), so F starts a times smaller and then trains freely.
`stochastic_depth` is the survival probability p_L of the last block; block l survives with
p_l = 1 - (l / L)(1 - p_L) (Huang et al. 2016's linear decay). `stochastic_depth_mode` "block"
drops a whole block per mini-batch without computing its branch and multiplies the branch by p_l
at inference; "drop_path" masks per sample (`skipcore.nn.drop_path`). `init="zero_residual"` is
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
from skipcore.nn.drop_path import StochasticDepth


class PreActBlock(nn.Module):
    def __init__(self, *, width: int, activation: str, branch_multiplier: float = 1.0, survival: float = 1.0,
                 stochastic_depth_mode: str = "block") -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = make_activation(activation)
        self.branch_multiplier = branch_multiplier
        self.drop_path = StochasticDepth(survival, stochastic_depth_mode)
        self.downsample = False

    def branch(self, x: Tensor) -> Tensor:
        h = self.fc2(self.act(self.fc1(self.act(x))))
        return h * self.branch_multiplier if self.branch_multiplier != 1.0 else h

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.drop_path(self.shortcut(x), lambda: self.branch(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    @torch.no_grad()
    def scale_last(self, a: float) -> None:
        """Residual scaling at initialisation: the branch's last layer (weight and bias) times a."""
        self.fc2.weight.mul_(a)
        self.fc2.bias.mul_(a)

    def extra_repr(self) -> str:
        return f"branch_multiplier={self.branch_multiplier:g}"


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
        branch_multiplier: float = 1.0,
        stochastic_depth: float = 1.0,
        stochastic_depth_mode: str = "block",
    ) -> None:
        super().__init__()
        check_size("ResNetMLP", depth, width)
        self.depth, self.width, self.activation = depth, width, activation
        self.input = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(
            PreActBlock(
                width=width,
                activation=activation,
                branch_multiplier=branch_multiplier,
                survival=1.0 - (l / depth) * (1.0 - stochastic_depth),
                stochastic_depth_mode=stochastic_depth_mode,
            )
            for l in range(1, depth + 1)
        )
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features)
        self.register_buffer("block_mask", torch.ones(depth, dtype=torch.bool))
        self._init_weights(init, residual_scale)

    def _init_weights(self, init: str, residual_scale: float = 1.0) -> None:
        init_named(self, "he" if init == "zero_residual" else init)
        for _, block in self.blocks():
            if init == "zero_residual":
                block.zero_init_last()
            elif residual_scale != 1.0:
                block.scale_last(residual_scale)

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth, ("fc1", "fc2"))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.features(x)))


def build(params, info) -> ResNetMLP:
    return ResNetMLP(**mlp_args(params, info, "residual_scale", "branch_multiplier", "stochastic_depth",
                               "stochastic_depth_mode"))
