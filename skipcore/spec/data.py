"""Data parameters, one class per `data.name`, discriminated on `name`."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Count = Annotated[int, Field(ge=1, le=10_000_000)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sine(_Data):
    """x uniform on [x_min, x_max], y = sin(x) + noise (seed 000)."""

    name: Literal["sine"]
    n_train: Count = 1024
    n_val: Count = 256
    x_min: float = Field(-2 * math.pi, ge=-1e6, le=1e6)
    x_max: float = Field(2 * math.pi, ge=-1e6, le=1e6)
    noise: float = Field(0.0, ge=0, le=1e3)

    @model_validator(mode="after")
    def _interval(self) -> "Sine":
        if self.x_min >= self.x_max:
            raise ValueError(f"x_min ({self.x_min}) must be below x_max ({self.x_max})")
        return self


class LinearPlusNoise(_Data):
    """y = a.x + b + nonlinear * sum(sin(3x)) + noise (seed 002); `nonlinear` 0 is a linear problem."""

    name: Literal["linear_plus_noise"]
    n_train: Count = 1024
    n_val: Count = 256
    in_features: Annotated[int, Field(ge=1, le=4096)] = 4
    noise: float = Field(0.05, ge=0, le=1e3)
    nonlinear: float = Field(0.0, ge=0, le=1e3)


class EmnistLetters(_Data):
    """EMNIST letters through torchvision (26 classes), from the data root in settings."""

    name: Literal["emnist_letters"]
    subset: Optional[Count] = Field(None, description="use only the first N training images")
    val_fraction: float = Field(0.1, gt=0, lt=1)


class Cifar10(_Data):
    """CIFAR-10 through torchvision, from the data root in settings."""

    name: Literal["cifar10"]
    augment: bool = True
    subset: Optional[Count] = Field(None, description="use only the first N training images")


class FakeImages(_Data):
    """Random labelled images (torchvision FakeData-like) so the image path runs offline."""

    name: Literal["fake_images"]
    n_train: Annotated[int, Field(ge=1, le=1_000_000)] = 256
    n_val: Annotated[int, Field(ge=1, le=1_000_000)] = 64
    image_size: Annotated[int, Field(ge=8, le=512)] = 32
    channels: Annotated[int, Field(ge=1, le=16)] = 3
    n_classes: Annotated[int, Field(ge=2, le=1000)] = 10
    learnable: bool = Field(True, description="class-dependent patterns, so accuracy can rise")


class SyntheticSegmentation(_Data):
    """Images of simple shapes with per-pixel masks, so a U-Net trains offline."""

    name: Literal["synthetic_segmentation"]
    n_train: Annotated[int, Field(ge=1, le=1_000_000)] = 256
    n_val: Annotated[int, Field(ge=1, le=1_000_000)] = 64
    image_size: Annotated[int, Field(ge=8, le=512)] = 32
    n_classes: Annotated[int, Field(ge=2, le=16)] = 3


DataParams = Annotated[
    Union[Sine, LinearPlusNoise, EmnistLetters, Cifar10, FakeImages, SyntheticSegmentation],
    Field(discriminator="name"),
]

DATASET_NAMES = (
    "cifar10",
    "emnist_letters",
    "fake_images",
    "linear_plus_noise",
    "sine",
    "synthetic_segmentation",
)
