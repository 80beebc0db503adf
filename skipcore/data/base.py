"""What every data loader returns: tensors on the device plus a description of the task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch


class MissingDataError(RuntimeError):
    """A data set's files are not on disk (and cannot be downloaded here). The message names them."""


@dataclass(frozen=True)
class DataInfo:
    task: str  # regression | classification | segmentation
    in_shape: tuple[int, ...]  # (features,) or (C, H, W)
    n_outputs: int  # regression targets, classes, or segmentation classes
    x_range: Optional[tuple[float, float]] = None  # training support of 1-D regression inputs


@dataclass
class Dataset:
    info: DataInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    # Batch-level augmentation on the device (x, generator) -> x; None for none.
    augment: Optional[Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = None

    def to(self, device: torch.device | str) -> "Dataset":
        return Dataset(
            self.info,
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_val.to(device),
            self.y_val.to(device),
            self.augment,
        )
