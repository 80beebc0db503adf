"""Data parameters, one class per `data.name`, discriminated on `name`.

A data set is its class here (it joins `DataParams` by being defined, see
`skipcore.spec.declared`) and its loader in `skipcore.data` (registered with `@dataset`). The
class declares, without torch: `TASK` (`regression` | `classification` | `segmentation`),
`IMAGES` (whether its inputs are (C, H, W) images), `info()` (the `DataInfo` the loader returns:
input shape, outputs, x range; the resource guard and the combination rules read it before
anything is loaded) and `train_size()` (training examples: a full batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Optional, Union

from pydantic import Field, model_validator

from skipcore.spec.declared import Declared, names, union

Count = Annotated[int, Field(ge=1, le=10_000_000)]
SplitSeed = Annotated[int, Field(ge=0, le=2**31 - 1)]
# A hold-out size: an int is a number of examples, a float in (0, 1) a fraction.
Size = Union[Annotated[int, Field(ge=1, le=10_000_000)], Annotated[float, Field(gt=0, lt=1)]]
N_DIGITS = 1797  # examples in scikit-learn's load_digits
N_DIABETES = 442  # examples in scikit-learn's load_diabetes


def hold_out_count(size: Union[int, float], n: int) -> int:
    """How many of n examples a hold-out `size` takes: an int is a count, a float in (0, 1) a
    fraction of n (rounded, at least 1)."""
    return int(size) if isinstance(size, int) else max(1, int(round(float(size) * n)))


def _check_left(what: str, n: int, **sizes: Union[int, float]) -> None:
    taken = {k: hold_out_count(v, n) for k, v in sizes.items()}
    if sum(taken.values()) >= n:
        given = ", ".join(f"{k} {v!r} ({taken[k]})" for k, v in sizes.items())
        raise ValueError(f"{what}: {given} of {n} examples leave no training set")


SPLIT_SEED_DOC = ("seed of the train/validation(/test) split; fixed (not the run seed), so the run seeds "
                  "vary the optimisation, not the data")


@dataclass(frozen=True)
class DataInfo:
    task: str  # regression | classification | segmentation
    in_shape: tuple[int, ...]  # (features,) or (C, H, W)
    n_outputs: int  # regression targets, classes, or segmentation classes
    x_range: Optional[tuple[float, float]] = None  # training support of 1-D regression inputs


class _Data(Declared):
    TAG: ClassVar[str] = "name"
    KIND: ClassVar[str] = "data set"
    REQUIRED: ClassVar[tuple[str, ...]] = ("TASK", "IMAGES", "info", "train_size")
    MEMBERS: ClassVar[dict[str, type[Declared]]] = {}


class _Drawn(_Data):
    """A generated data set: `n_train` training examples."""

    def train_size(self) -> int:
        return self.n_train


class _DrawnRegression(_Drawn):
    """Generated regression examples, (features,) inputs."""

    TASK: ClassVar[str] = "regression"
    IMAGES: ClassVar[bool] = False


class Sine(_DrawnRegression):
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

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, (1,), 1, x_range=(float(self.x_min), float(self.x_max)))


class LinearPlusNoise(_DrawnRegression):
    """y = a.x + b + nonlinear * sum(sin(3x)) + noise (seed 002); `nonlinear` 0 is a linear problem."""
    name: Literal["linear_plus_noise"]
    n_train: Count = 1024
    n_val: Count = 256
    in_features: Annotated[int, Field(ge=1, le=4096)] = 4
    noise: float = Field(0.05, ge=0, le=1e3)
    nonlinear: float = Field(0.0, ge=0, le=1e3)

    def info(self) -> DataInfo:
        # 1-D inputs: the 0.1%/99.9% normal quantiles, the support the probes evaluate on
        x_range = (-3.09, 3.09) if self.in_features == 1 else None
        return DataInfo(self.TASK, (self.in_features,), 1, x_range=x_range)


class _Torchvision(_Data):
    """A torchvision image set: `subset` (or all `N_TRAIN`) training images, less the `val_size` hold-out."""

    TASK: ClassVar[str] = "classification"
    IMAGES: ClassVar[bool] = True
    N_TRAIN: ClassVar[int]
    SHAPE: ClassVar[tuple[int, int, int]]
    CLASSES: ClassVar[int]

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, self.SHAPE, self.CLASSES)

    def train_size(self) -> int:
        n = self.subset or self.N_TRAIN
        return n - hold_out_count(self.val_size, n)


class EmnistLetters(_Torchvision):
    """EMNIST letters through torchvision (26 classes), from the data root in settings.

    The official test split is the test set (`x_test`); the validation set is a seeded hold-out of
    `val_size` of the (subset of the) training split. `val_fraction` is the older name of a
    fractional `val_size`.
    """

    N_TRAIN: ClassVar[int] = 124_800  # images in the official training split
    SHAPE: ClassVar[tuple[int, int, int]] = (1, 28, 28)
    CLASSES: ClassVar[int] = 26
    name: Literal["emnist_letters"]
    subset: Optional[Count] = Field(None, description="use only the first N training images")
    val_size: Size = Field(0.1, description="validation hold-out of the training split: a count, or a fraction in (0, 1)")
    val_fraction: Optional[float] = Field(None, gt=0, lt=1, description="older name of a fractional val_size "
                                          "(moved into val_size on validation)")
    split_seed: SplitSeed = Field(0, description=SPLIT_SEED_DOC)

    @model_validator(mode="after")
    def _val_fraction(self) -> "EmnistLetters":
        if self.val_fraction is not None:  # the older name: becomes val_size
            if "val_size" in self.model_fields_set and self.val_size != self.val_fraction:
                raise ValueError("give val_size or val_fraction (its older name), not both")
            self.val_size, self.val_fraction = self.val_fraction, None
        if self.subset is not None:
            _check_left("emnist_letters subset", self.subset, val_size=self.val_size)
        return self


class Cifar10(_Torchvision):
    """CIFAR-10 through torchvision, from the data root in settings.

    The official test batch is the test set (`x_test`); the validation set is a seeded hold-out of
    `val_size` of the (subset of the) training batches (5000 of 50 000 by default, the usual
    45k/5k split).
    """

    N_TRAIN: ClassVar[int] = 50_000  # images in the five training batches
    SHAPE: ClassVar[tuple[int, int, int]] = (3, 32, 32)
    CLASSES: ClassVar[int] = 10
    name: Literal["cifar10"]
    augment: bool = True
    subset: Optional[Count] = Field(None, description="use only the first N training images")
    val_size: Size = Field(5000, description="validation hold-out of the training images: a count, or a fraction in (0, 1)")
    split_seed: SplitSeed = Field(0, description=SPLIT_SEED_DOC)

    @model_validator(mode="after")
    def _left(self) -> "Cifar10":
        _check_left("cifar10 subset" if self.subset is not None else "cifar10", self.subset or self.N_TRAIN,
                    val_size=self.val_size)
        return self


class _FixedSplit(_Data):
    """A data set of `N` examples split once into test / validation / training by `split_seed`."""

    N: ClassVar[int]
    val_size: Size = Field(0.2, description="validation share of all examples: a count, or a fraction in (0, 1)")
    test_size: Size = Field(0.2, description="test share of all examples: a count, or a fraction in (0, 1)")
    split_seed: SplitSeed = Field(0, description=SPLIT_SEED_DOC)

    @model_validator(mode="after")
    def _left(self) -> "_FixedSplit":
        _check_left(self.name, self.N, val_size=self.val_size, test_size=self.test_size)
        return self

    def train_size(self) -> int:
        return self.N - hold_out_count(self.val_size, self.N) - hold_out_count(self.test_size, self.N)


class Digits(_FixedSplit):
    """scikit-learn's `load_digits`: 1,797 real 8x8 handwritten digits, 10 classes (images (1, 8, 8)).

    Split once with `split_seed` into test (`test_size` of all images), validation (`val_size` of
    all images) and training (the rest); pixels scaled to [0, 1] then standardised with the
    training images' mean and std.
    """

    TASK: ClassVar[str] = "classification"
    IMAGES: ClassVar[bool] = True
    N: ClassVar[int] = N_DIGITS
    name: Literal["digits"]

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, (1, 8, 8), 10)


class Diabetes(_FixedSplit):
    """scikit-learn's `load_diabetes`: 442 patients, 10 features, a disease-progression target.

    Split once with `split_seed` into test / validation / training like `digits`; features and
    target are standardised with the training split's mean and std only.
    """

    TASK: ClassVar[str] = "regression"
    IMAGES: ClassVar[bool] = False
    N: ClassVar[int] = N_DIABETES
    name: Literal["diabetes"]

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, (10,), 1)


class _DrawnImages(_Drawn):
    """Generated square images: `n_train` + `n_val` of `image_size` pixels."""

    IMAGES: ClassVar[bool] = True
    n_train: Annotated[int, Field(ge=1, le=1_000_000)] = 256
    n_val: Annotated[int, Field(ge=1, le=1_000_000)] = 64
    image_size: Annotated[int, Field(ge=8, le=512)] = 32


class FakeImages(_DrawnImages):
    """Random labelled images (torchvision FakeData-like) so the image path runs offline."""

    TASK: ClassVar[str] = "classification"
    name: Literal["fake_images"]
    channels: Annotated[int, Field(ge=1, le=16)] = 3
    n_classes: Annotated[int, Field(ge=2, le=1000)] = 10
    learnable: bool = Field(True, description="class-dependent patterns, so accuracy can rise")
    task_seed: SplitSeed = Field(
        0, description="seed of the class patterns (the task); fixed, so run seeds vary the samples, not the task"
    )

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, (self.channels, self.image_size, self.image_size), self.n_classes)


class SyntheticSegmentation(_DrawnImages):
    """Images of simple shapes with per-pixel masks, so a U-Net trains offline."""

    TASK: ClassVar[str] = "segmentation"
    name: Literal["synthetic_segmentation"]
    n_classes: Annotated[int, Field(ge=2, le=16)] = 3

    def info(self) -> DataInfo:
        return DataInfo(self.TASK, (1, self.image_size, self.image_size), self.n_classes)


DataParams = union(_Data)
DATA_SPECS = _Data.MEMBERS  # name -> spec class
DATASET_NAMES = names(_Data)
