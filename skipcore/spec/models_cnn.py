"""The image families' spec classes (CNNs, U-Net); they join `ModelParams` through
`skipcore.spec.models`, which imports them after the MLP families (so the union keeps that order)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from skipcore.spec import sizes
from skipcore.spec.data import DataInfo
from skipcore.spec.model_base import (BRANCH_MULTIPLIER, RESIDUAL_SCALE, STOCHASTIC_DEPTH, STOCHASTIC_DEPTH_MODE,
                                      StochasticDepthMode, Width, _ImageModel)
from skipcore.spec.sizes import Estimate


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
