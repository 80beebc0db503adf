"""The shared parts of the model families' spec classes (`skipcore.spec.models`): the field types,
the field descriptions two families share, and the bases a family derives from (`_MLP`, `_ChainMLP`,
`_ImageModel`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from skipcore.spec.data import DataInfo
from skipcore.spec.declared import Declared
from skipcore.spec.sizes import Estimate, chain, features

Activation = Literal["relu", "tanh", "sigmoid", "gelu"]
INIT_RULE = (
    "default: PyTorch's nn.Linear init, U(+-1/sqrt(fan_in)) weights and biases (what seed 000 ran); "
    "he: Kaiming-normal weights N(0, 2/fan_in) for ReLU, zero biases; "
    "identity: every hidden-to-hidden (width -> width) layer gets the identity matrix, the layers that "
    "read the input or write the output get he, every bias is zero (so every hidden layer receives the "
    "first layer's output and every hidden unit is live)"
)
Init = Annotated[Literal["he", "identity", "default"], Field(description=INIT_RULE)]
Depth = Annotated[int, Field(ge=1, le=1000)]
Width = Annotated[int, Field(ge=1, le=1_000_000)]

# residual networks (resnet_mlp, resnet_cnn): residual scaling and stochastic depth
StochasticDepthMode = Literal["block", "drop_path"]
RESIDUAL_SCALE = (
    "residual scaling at initialisation: the last layer of every residual branch (its weight and bias; "
    "for resnet_cnn's post-activation block the last BN's gamma) is multiplied by this factor once, after "
    "the init, so F starts small and then trains freely; 1 = off"
)
BRANCH_MULTIPLIER = "a constant c multiplying every residual branch in every forward pass (x + c F(x)); 1 = off"
STOCHASTIC_DEPTH = (
    "stochastic depth (Huang et al. 2016): survival probability p_L of the last block, block l of L "
    "surviving with p_l = 1 - (l / L)(1 - p_L); 1 = off"
)
STOCHASTIC_DEPTH_MODE = (
    "'block' (Huang et al.): each block is kept or dropped for a whole mini-batch, a dropped block's branch "
    "is not computed, and at inference the branch is multiplied by p_l; 'drop_path' (timm): every sample's "
    "branch is kept or zeroed on its own, survivors scaled by 1/p_l, inference unscaled (the branch is "
    "always computed, so nothing is saved)"
)


class _Model(Declared):
    TAG: ClassVar[str] = "family"
    KIND: ClassVar[str] = "model family"
    REQUIRED: ClassVar[tuple[str, ...]] = ("TASKS", "IMAGES", "estimate")
    MEMBERS: ClassVar[dict[str, type[Declared]]] = {}
    PROVIDES: ClassVar[frozenset[str]] = frozenset()


class _MLP(_Model):
    TASKS: ClassVar[frozenset[str]] = frozenset({"regression", "classification"})
    IMAGES: ClassVar[bool] = False

    def _chain(self, data: DataInfo) -> Estimate:
        """Input, `depth` hidden Linear layers of `width`, output."""
        return chain([features(data.in_shape), *[self.width] * self.depth, data.n_outputs])


class _ChainMLP(_MLP):
    """An MLP whose weights are the chain input -> `depth` x `width` -> output (skips without weights).
    Its families set `family` and the default `depth` (declared here too, to keep the fields' order)."""

    family: str
    depth: Depth
    width: Width = 64
    activation: Activation = "relu"
    init: Init = "he"

    def estimate(self, data: DataInfo) -> Estimate:
        return self._chain(data)


class _ImageModel(_Model):
    TASKS: ClassVar[frozenset[str]] = frozenset({"classification"})
    IMAGES: ClassVar[bool] = True
