"""resnet_mlp: residual MLPs, no batch norm. Default `block`: He et al. 2016's pre-activation (V2) block.

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

from skipcore.models import family
from skipcore.models.common import (LayerBlocks, UniformMLP, block_layer_names, init_named, make_activation, mlp_args,
                                    stacked_blocks)
from skipcore.models.stacking import StackedLinears, stacked_forward
from skipcore.nn.drop_path import StochasticDepth


class _StreamBlock(nn.Module):
    """A block on the residual stream: y = x + s * branch(x), the branch dropped as stochastic depth
    says. The block's Linears are created by the subclass (`_linears`), `last` is the branch's last one."""

    def __init__(self, *, width: int, activation: str, branch_multiplier: float = 1.0, survival: float = 1.0,
                 stochastic_depth_mode: str = "block") -> None:
        super().__init__()
        self._linears(width)
        self.act = make_activation(activation)
        self.branch_multiplier = branch_multiplier
        self.drop_path = StochasticDepth(survival, stochastic_depth_mode)
        self.downsample = False

    def _linears(self, width: int) -> None:
        raise NotImplementedError

    def _branch(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def branch(self, x: Tensor) -> Tensor:
        h = self._branch(x)
        return h * self.branch_multiplier if self.branch_multiplier != 1.0 else h

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.drop_path(self.shortcut(x), lambda: self.branch(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    @torch.no_grad()
    def scale_last(self, a: float) -> None:
        """Residual scaling at initialisation: the branch's last layer (weight and bias) times a."""
        self.last.weight.mul_(a)
        self.last.bias.mul_(a)

    def extra_repr(self) -> str:
        return f"branch_multiplier={self.branch_multiplier:g}"


class PreActBlock(_StreamBlock):
    """He et al. 2016's pre-activation block: branch W2 act(W1 act(x))."""

    def _linears(self, width: int) -> None:
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    @property
    def last(self) -> nn.Linear:
        return self.fc2

    def _branch(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.act(x))))


class ActThenAddBlock(_StreamBlock):
    """Seed 000's V2 block: x' = x + s * act(fc(x)), one Linear, the skip added after act."""

    def _linears(self, width: int) -> None:
        self.fc = nn.Linear(width, width)

    @property
    def last(self) -> nn.Linear:
        return self.fc

    def _branch(self, x: Tensor) -> Tensor:
        return self.act(self.fc(x))


class _ResidualMLP(LayerBlocks, UniformMLP):
    """input, `n_blocks` blocks of kind `BLOCK` on the stream, output; options as in the module docstring."""

    NAME, BLOCK = "ResNetMLP", PreActBlock

    def _n_blocks(self) -> int:
        return self.depth

    def _layers(self, in_features: int, out_features: int, residual_scale: float = 1.0, branch_multiplier: float = 1.0,
                stochastic_depth: float = 1.0, stochastic_depth_mode: str = "block") -> None:
        self.residual_scale, n = residual_scale, self._n_blocks()
        self.input = nn.Linear(in_features, self.width)
        self.layers = nn.ModuleList(
            self.BLOCK(width=self.width, activation=self.activation, branch_multiplier=branch_multiplier,
                       survival=1.0 - (l / n) * (1.0 - stochastic_depth), stochastic_depth_mode=stochastic_depth_mode)
            for l in range(1, n + 1)
        )
        self.output = nn.Linear(self.width, out_features)
        self.register_buffer("block_mask", torch.ones(n, dtype=torch.bool))

    def _init_weights(self, init: str) -> None:
        init_named(self, "he" if init == "zero_residual" else init)
        for _, block in self.blocks():
            if init == "zero_residual":
                block.zero_init_last()
            elif self.residual_scale != 1.0:
                block.scale_last(self.residual_scale)


class ResNetMLP(_ResidualMLP):
    """resnet_mlp with the pre-activation block (the default): `depth` blocks, a closing activation."""

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth, ("fc1", "fc2"))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.features(x)))


class ActThenAddMLP(_ResidualMLP):
    """resnet_mlp with `block="activation_then_add"` (see the module docstring): `depth` hidden layers."""

    BLOCK = ActThenAddBlock

    def _n_blocks(self) -> int:
        return self.depth - 1

    def _stem(self, x: Tensor) -> Tensor:
        return self.act(self.input(x.flatten(1)))

    def layer_names(self) -> list[str]:
        return block_layer_names(self.depth - 1, ("fc",))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.features(x))


BLOCKS = {"pre_activation": ResNetMLP, "activation_then_add": ActThenAddMLP}


@family("resnet_mlp", stackable=True)
def build(params, info) -> nn.Module:
    cls = BLOCKS[getattr(params, "block", "pre_activation")]
    return cls(**mlp_args(params, info, "residual_scale", "branch_multiplier", "stochastic_depth",
                          "stochastic_depth_mode"))


# -- K stacked seeds (skipcore.models.stacking): every block kept (stochastic depth does not stack) --
@stacked_forward(ResNetMLP)
def stacked(m: ResNetMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    def block(b: PreActBlock, h: Tensor) -> Tensor:  # PreActBlock.forward at survival 1
        return h + b.branch_multiplier * lin(b.fc2)(b.act(lin(b.fc1)(b.act(h))))

    return lin(m.output)(m.act(stacked_blocks(m, lin, x, block)))


@stacked_forward(ActThenAddMLP)
def stacked_act_then_add(m: ActThenAddMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    def block(b: ActThenAddBlock, h: Tensor) -> Tensor:  # ActThenAddBlock.forward at survival 1
        return h + b.branch_multiplier * b.act(lin(b.fc)(h))

    return lin(m.output)(stacked_blocks(m, lin, x, block, stem=m.act))
