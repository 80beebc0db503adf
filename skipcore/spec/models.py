"""Model parameters, one class per `model.family`, discriminated on `family`.

Every class forbids unknown keys and bounds every number. `depth` counts hidden layers for MLPs
and blocks (or convolutional layers) for CNNs, as each class's docstring says.

A family is its class here (it joins `ModelParams` by being defined, see `skipcore.spec.declared`)
and its torch module in `skipcore.models` (the builder, registered with `@family`). The class
declares, without torch, what the service needs before anything is built:
- `TASKS`: the tasks it learns (`regression`, `classification`, `segmentation`); `IMAGES`: whether
  it needs (C, H, W) inputs (MLPs flatten any input);
- `PROVIDES`: the model interfaces that probes and training rules ask for: `blocks` (`blocks()`,
  `block_mask`, the block probes), `layer_skips` (one identity skip per hidden layer,
  skip_ablation), `switchable_skips` (`set_skips`, skip*), `weighted_skips` (skips with weights a
  skip* switch can start at zero), `skip_layer` (`linear_term` / `hidden_term`, l1_linearity);
- `estimate(data)`: the exact parameter count and the activations per sample
  (`skipcore.spec.sizes.Estimate`) for a data set's `DataInfo`; the resource guard reads it.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from skipcore.spec import sizes
from skipcore.spec.data import DataInfo
from skipcore.spec.declared import Declared, names, union
from skipcore.spec.sizes import Estimate, chain, features, linear

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
    """An MLP whose weights are the chain input -> `depth` x `width` -> output (skips without weights)."""

    def estimate(self, data: DataInfo) -> Estimate:
        return self._chain(data)


class _ImageModel(_Model):
    TASKS: ClassVar[frozenset[str]] = frozenset({"classification"})
    IMAGES: ClassVar[bool] = True


class PlainMLP(_ChainMLP):
    """ReLU MLP of `depth` hidden layers of uniform `width` (seed 000, fig 4)."""

    family: Literal["plain_mlp"]
    depth: Depth = 4
    width: Width = 64
    activation: Activation = "relu"
    init: Init = "he"


class TelescopeMLP(_ChainMLP):
    """Every hidden layer's output is summed (identity) into the last hidden layer (seed 000)."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"layer_skips", "switchable_skips"})
    family: Literal["telescope_mlp"]
    depth: Depth = 8
    width: Width = 64
    activation: Activation = "relu"
    init: Init = "he"


class ResNetMLP(_MLP):
    """Residual MLP of uniform `width`: `block` pre-activation (default) or seed 000's V2 block."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"blocks"})
    family: Literal["resnet_mlp"]
    depth: Depth = 8
    width: Width = 64
    activation: Activation = "relu"
    init: Literal["he", "identity", "default", "zero_residual"] = Field(
        "he", description=INIT_RULE + "; zero_residual: he, then each block's last layer zeroed"
    )
    block: Literal["pre_activation", "activation_then_add"] = Field(
        "pre_activation",
        description="pre_activation: He et al. 2016, x' = x + W2 act(W1 act(x)), `depth` blocks; "
        "activation_then_add: seed 000's V2 block x' = act(W x) + x (one Linear, the skip added after "
        "the activation), `depth` counts hidden layers as in telescope_mlp (an input layer, then depth - 1 blocks)",
    )
    residual_scale: float = Field(1.0, gt=0, le=10, description=RESIDUAL_SCALE)
    branch_multiplier: float = Field(1.0, gt=0, le=10, description=BRANCH_MULTIPLIER)
    stochastic_depth: float = Field(1.0, gt=0, le=1, description=STOCHASTIC_DEPTH)
    stochastic_depth_mode: StochasticDepthMode = Field("block", description=STOCHASTIC_DEPTH_MODE)

    def estimate(self, data: DataInfo) -> Estimate:
        w = self.width
        blocks = 2 * self.depth if self.block == "pre_activation" else self.depth - 1  # Linear(w, w) layers
        return linear(features(data.in_shape), w) + linear(w, w) * blocks + linear(w, data.n_outputs)


class DenseSkipMLP(_MLP):
    """Every pair of non-adjacent layers also fully connected (seed 001, fig 1)."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"switchable_skips", "weighted_skips"})
    family: Literal["dense_skip_mlp"]
    widths: list[Width] = Field(default_factory=lambda: [128, 256, 256], min_length=1, max_length=64)
    skips: bool = True
    activation: Activation = "relu"
    init: Literal["he", "identity", "default"] = Field(
        "he",
        description="default / he: every weight into a layer (main and skip) drawn for the layer's total fan-in "
        "(its main input plus every skip input); the main weights are the same draws with or without skips "
        "(scaled by sqrt(main fan-in / total fan-in) with them), the skip weights come from a generator of "
        "their own seeded by the run seed; identity: square hidden-to-hidden main layers the identity, the "
        "other main layers he, biases and skip weights zero",
    )
    init_fan_in: Literal["total", "main"] = Field(
        "total",
        description="total: main weights drawn for the layer's total fan-in (so the two arms' main weights are "
        "proportional); main: drawn for the main fan-in alone, equal to the vanilla MLP's (skip weights: total "
        "fan-in either way)",
    )

    def estimate(self, data: DataInfo) -> Estimate:
        sizes_ = [features(data.in_shape), *self.widths, data.n_outputs]
        skips = [linear(sizes_[i], sizes_[j], bias=False) for j in range(2, len(sizes_)) for i in range(j - 1)]
        return chain(sizes_) + sizes.total(skips if self.skips else [])


class SkipLayerMLP(_MLP):
    """Hidden layers plus a direct input-to-output linear term (seed 002). `width` 0 is linear."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"skip_layer"})
    family: Literal["skip_layer_mlp"]
    depth: Depth = 1
    width: Annotated[int, Field(ge=0, le=1_000_000)] = 16
    activation: Activation = "tanh"
    skip_layer: bool = True
    init: Init = "default"

    def estimate(self, data: DataInfo) -> Estimate:
        n, out = features(data.in_shape), data.n_outputs
        if self.width == 0:  # W_skip x + b, or the constant b alone
            return linear(n, out) if self.skip_layer else Estimate(out, 0)
        return self._chain(data) + (linear(n, out, bias=False) if self.skip_layer else sizes.NONE)


class HighwayMLP(_MLP):
    """Highway layers y = T(x)H(x) + (1 - T(x))x (Srivastava et al. 2015)."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"blocks"})
    family: Literal["highway_mlp"]
    depth: Depth = 8
    width: Width = 64
    activation: Activation = "relu"
    gate_bias: float = Field(-2.0, ge=-10, le=10, description="initial transform-gate bias b_T")
    init: Init = "he"

    def estimate(self, data: DataInfo) -> Estimate:
        w = self.width  # per layer: the transform H and the gate T, both Linear(w, w)
        return linear(features(data.in_shape), w) + linear(w, w) * (2 * self.depth) + linear(w, data.n_outputs)


class _SeedCNN(_ImageModel):
    """Seed 001's eight-convolution CIFAR-10 network (see skipcore.models.cnn for the table)."""

    batch_norm: bool = True
    width_mult: float = Field(1.0, gt=0, le=16)
    dropout: float = Field(0.0, ge=0, lt=1)

    def estimate(self, data: DataInfo) -> Estimate:
        return sizes.seed_cnn(self.family, self.width_mult, self.batch_norm, data.in_shape, data.n_outputs)


class VanillaCNN(_SeedCNN):
    family: Literal["vanilla_cnn"]


class SkipCNN(_SeedCNN):
    family: Literal["skip_cnn"]


class WidenedCNN(_SeedCNN):
    family: Literal["widened_cnn"]


class ResNetCNN(_ImageModel):
    """CIFAR ResNet of He et al.: 3 stages of n blocks, `depth` = 6n + 2."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"blocks"})
    family: Literal["resnet_cnn"]
    depth: Annotated[int, Field(ge=8, le=1202)] = 20
    block: Literal["post_activation", "pre_activation"] = "post_activation"
    shortcut: Literal["identity", "none"] = "identity"
    widths: list[Width] = Field(default_factory=lambda: [16, 32, 64], min_length=1, max_length=8)
    zero_init_residual: bool = False
    residual_scale: float = Field(1.0, gt=0, le=10, description=RESIDUAL_SCALE)
    branch_multiplier: float = Field(1.0, gt=0, le=10, description=BRANCH_MULTIPLIER)
    stochastic_depth: float = Field(1.0, gt=0, le=1, description=STOCHASTIC_DEPTH)
    stochastic_depth_mode: StochasticDepthMode = Field("block", description=STOCHASTIC_DEPTH_MODE)
    init: Literal["he", "default"] = "he"

    @field_validator("depth")
    @classmethod
    def _six_n_plus_two(cls, v: int) -> int:
        if (v - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...), got {v}")
        return v

    @model_validator(mode="after")
    def _branches_need_a_shortcut(self) -> "ResNetCNN":
        if self.shortcut == "none" and self.zero_init_residual:
            raise ValueError(
                "zero_init_residual needs shortcut 'identity': with shortcut 'none' every block starts as "
                "the zero function, so no gradient reaches the branches and they never train"
            )
        if self.shortcut == "none" and self.stochastic_depth < 1:
            raise ValueError("stochastic_depth < 1 needs shortcut 'identity': a dropped block leaves its shortcut")
        return self

    def estimate(self, data: DataInfo) -> Estimate:
        return sizes.resnet_cnn(self.depth, self.widths, self.block == "pre_activation", self.shortcut == "identity",
                                data.in_shape, data.n_outputs)


class DenseNetCNN(_ImageModel):
    """DenseNet-BC style: dense blocks of `block_layers` layers, growth rate k, transitions."""

    family: Literal["densenet_cnn"]
    growth_rate: Annotated[int, Field(ge=1, le=256)] = 12
    block_layers: list[Annotated[int, Field(ge=1, le=128)]] = Field(
        default_factory=lambda: [4, 4, 4], min_length=1, max_length=8
    )
    bottleneck: bool = True
    compression: float = Field(0.5, gt=0, le=1)
    init_channels: Annotated[int, Field(ge=1, le=1024)] = 24

    def estimate(self, data: DataInfo) -> Estimate:
        return sizes.densenet_cnn(self.growth_rate, self.block_layers, self.bottleneck, self.compression,
                                  self.init_channels, data.in_shape, data.n_outputs)


class UNet(_ImageModel):
    """Encoder/decoder with long concatenative skips; `long_skips: false` removes them."""

    TASKS: ClassVar[frozenset[str]] = frozenset({"segmentation"})
    family: Literal["unet"]
    depth: Annotated[int, Field(ge=1, le=8)] = 3
    base_channels: Annotated[int, Field(ge=1, le=512)] = 16
    long_skips: bool = True
    batch_norm: bool = True

    def estimate(self, data: DataInfo) -> Estimate:
        return sizes.unet(self.depth, self.base_channels, self.long_skips, self.batch_norm, data.in_shape,
                          data.n_outputs)


ModelParams = union(_Model)
MODEL_SPECS = _Model.MEMBERS  # family -> spec class
FAMILIES = names(_Model)
MLP_FAMILIES = frozenset(f for f, cls in MODEL_SPECS.items() if not cls.IMAGES)
IMAGE_FAMILIES = frozenset(f for f, cls in MODEL_SPECS.items() if cls.IMAGES)


def providing(capability: str) -> tuple[str, ...]:
    """The families whose models provide `capability` (see PROVIDES), sorted."""
    return tuple(sorted(f for f, cls in MODEL_SPECS.items() if capability in cls.PROVIDES))
