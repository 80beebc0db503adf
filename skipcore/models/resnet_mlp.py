"""resnet_mlp: residual MLPs, no batch norm. Default `block`: He et al. 2016's pre-activation (V2) block.

    x_0 = W_in x                          (input projection to `width`)
    x_l = x_{l-1} + s * F_l(x_{l-1}),     F_l(x) = W2 act(W1 act(x))      (l = 1..depth)
    y   = W_out act(x_L)                  (the final pre-activation nets' closing activation)

`residual_scale` is s. `stochastic_depth` is the survival probability p_L of the last block;
block l survives with p_l = 1 - (l / L)(1 - p_L) (Huang et al. 2016's linear decay) in training
and is always kept, unscaled, at inference (`skipcore.nn.drop_path`). `init="zero_residual"` is
He init with W2 (and its bias) of every block zeroed, so every block starts as the identity.

`block="activation_then_add"` builds seed 000's V2 network instead (`ActThenAddMLP`): its block
is x' = act(F(x)) + x with F one Linear (the skip added after the non-linearity; the seed's
telescope is its "modified V2"), and `depth` counts hidden layers as in telescope_mlp:

    h_1 = act(W_in x)                       (hidden layer 1, `input`: no skip, its input has another size)
    h_l = h_{l-1} + s * act(W_l h_{l-1})     (l = 2..depth: blocks `layers.0` .. `layers.{depth-2}`)
    y   = W_out h_depth

so the depth-50 net has 50 hidden Linear+act layers, `input` then `layers.{i}.fc`, which line up
one to one with telescope_mlp's `hidden.0` .. `hidden.49`. No closing activation (h is already a
sum of activations, as the telescope's z). `residual_scale` / `stochastic_depth` act on its
branch as on the pre-activation block's (survival decays over its depth - 1 blocks);
`zero_residual` zeroes each `fc`, so a block starts as the identity where act(0) = 0 (ReLU, tanh, GELU).

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


class ActThenAddBlock(nn.Module):
    """Seed 000's V2 block: x' = x + s * act(fc(x)), one Linear, the skip added after act."""

    def __init__(self, *, width: int, activation: str, residual_scale: float = 1.0, survival: float = 1.0) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = make_activation(activation)
        self.residual_scale = residual_scale
        self.drop_path = DropPath(survival)
        self.downsample = False

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.drop_path(self.branch(x))

    def branch(self, x: Tensor) -> Tensor:
        return self.residual_scale * self.act(self.fc(x))

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)


class ActThenAddMLP(LayerBlocks, nn.Module):
    """resnet_mlp with `block="activation_then_add"` (see the module docstring): `depth` hidden layers."""

    def __init__(self, *, in_features: int, out_features: int, depth: int, width: int, activation: str = "relu",
                 init: str = "he", residual_scale: float = 1.0, stochastic_depth: float = 1.0) -> None:
        super().__init__()
        check_size("ResNetMLP", depth, width)
        self.depth, self.width, self.activation, n = depth, width, activation, depth - 1
        self.input = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(
            ActThenAddBlock(width=width, activation=activation, residual_scale=residual_scale,
                            survival=1.0 - (l / n) * (1.0 - stochastic_depth))
            for l in range(1, n + 1)
        )
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features)
        self.register_buffer("block_mask", torch.ones(n, dtype=torch.bool))
        init_named(self, "he" if init == "zero_residual" else init)
        for block in self.layers if init == "zero_residual" else ():
            block.zero_init_last()

    def _stem(self, x: Tensor) -> Tensor:
        return self.act(self.input(x.flatten(1)))

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth - 1, ("fc",))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.features(x))


BLOCKS = {"pre_activation": ResNetMLP, "activation_then_add": ActThenAddMLP}


def build(params, info) -> nn.Module:
    cls = BLOCKS[getattr(params, "block", "pre_activation")]
    return cls(**mlp_args(params, info, "residual_scale", "stochastic_depth"))
