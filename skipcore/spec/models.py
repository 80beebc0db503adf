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

from pydantic import Field

from skipcore.spec import sizes
from skipcore.spec.data import DataInfo
from skipcore.spec.declared import names, union
from skipcore.spec.model_base import (  # noqa: F401  (re-exported: the shared parts are part of this module's API)
    BRANCH_MULTIPLIER, INIT_RULE, RESIDUAL_SCALE, STOCHASTIC_DEPTH, STOCHASTIC_DEPTH_MODE, Activation, Depth, Init,
    StochasticDepthMode, Width, _ChainMLP, _ImageModel, _MLP, _Model)
from skipcore.spec.sizes import Estimate, chain, features, linear


class PlainMLP(_ChainMLP):
    """ReLU MLP of `depth` hidden layers of uniform `width` (seed 000, fig 4)."""

    family: Literal["plain_mlp"]
    depth: Depth = 4


class TelescopeMLP(_ChainMLP):
    """Every hidden layer's output is summed (identity) into the last hidden layer (seed 000)."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"layer_skips", "switchable_skips"})
    family: Literal["telescope_mlp"]
    depth: Depth = 8


class _BlockMLP(_MLP):
    """An MLP of `depth` blocks of uniform `width` (`blocks()`, the block probes). Its families set
    `family` (declared here too, to keep the fields' order)."""

    PROVIDES: ClassVar[frozenset[str]] = frozenset({"blocks"})
    family: str
    depth: Depth = 8
    width: Width = 64
    activation: Activation = "relu"


class ResNetMLP(_BlockMLP):
    """Residual MLP of uniform `width`: `block` pre-activation (default) or seed 000's V2 block."""

    family: Literal["resnet_mlp"]
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


class HighwayMLP(_BlockMLP):
    """Highway layers y = T(x)H(x) + (1 - T(x))x (Srivastava et al. 2015)."""

    family: Literal["highway_mlp"]
    gate_bias: float = Field(-2.0, ge=-10, le=10, description="initial transform-gate bias b_T")
    init: Init = "he"

    def estimate(self, data: DataInfo) -> Estimate:
        w = self.width  # per layer: the transform H and the gate T, both Linear(w, w)
        return linear(features(data.in_shape), w) + linear(w, w) * (2 * self.depth) + linear(w, data.n_outputs)


# the image families after the MLP ones: the union (and the spec reference) lists them in this order
from skipcore.spec.models_cnn import (  # noqa: E402,F401
    DenseNetCNN, ResNetCNN, SkipCNN, UNet, VanillaCNN, WidenedCNN, _SeedCNN)

ModelParams = union(_Model)
MODEL_SPECS = _Model.MEMBERS  # family -> spec class
FAMILIES = names(_Model)
MLP_FAMILIES = frozenset(f for f, cls in MODEL_SPECS.items() if not cls.IMAGES)
IMAGE_FAMILIES = frozenset(f for f, cls in MODEL_SPECS.items() if cls.IMAGES)


def providing(capability: str) -> tuple[str, ...]:
    """The families whose models provide `capability` (see PROVIDES), sorted."""
    return tuple(sorted(f for f, cls in MODEL_SPECS.items() if capability in cls.PROVIDES))
