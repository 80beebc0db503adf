"""What every data loader returns: tensors on the device plus a description of the task.

Splits: `x_train`/`y_train` is what the optimiser sees; `x_val`/`y_val` drives every training
decision (best epoch, skip* switch, early stopping) and is never the test set; `x_test`/`y_test`
is the official test split of data sets that have one (cifar10, emnist_letters, digits,
diabetes), scored once after training, and None for data sets without one. For data sets with a
test split the validation set is a hold-out of the training set (`split_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Optional, Union

import torch
from torch import Tensor

from skipcore.spec.data import DataInfo, hold_out_count  # DataInfo: declared by the spec's data classes


class MissingDataError(RuntimeError):
    """A data set's files are not on disk (and cannot be downloaded here). The message names them."""


@dataclass
class Dataset:
    info: DataInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    # Batch-level augmentation on the device (x, generator) -> x; None for none.
    augment: Optional[Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = None
    x_test: Optional[torch.Tensor] = None  # the official test split; None when the data set has none
    y_test: Optional[torch.Tensor] = None

    def to(self, device: torch.device | str) -> "Dataset":
        """The same data set (same class, same extra fields) with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return replace(self, **moved)


def split_indices(n: int, split_seed: int, what: str, val_size: Union[int, float],
                  test_size: Union[int, float, None] = None) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """(train_idx, val_idx, test_idx or None): a seeded random split of n examples.

    Sizes are counts (int) or fractions of n (float in (0, 1), rounded, at least 1). The
    permutation is `torch.randperm(n)` from a CPU generator seeded with `split_seed` (a data spec
    field, not the run seed, so every run seed sees the same split): its first n_test indices are
    the test set, the next n_val the validation set, the rest (in permutation order) the training
    set. Raises ValueError when nothing is left to train on.
    """
    n_test = hold_out_count(test_size, n) if test_size is not None else 0
    n_val = hold_out_count(val_size, n)
    if n_test + n_val >= n:
        raise ValueError(f"{what}: val_size {val_size!r} and test_size {test_size!r} of {n} examples leave no training set")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    test = perm[:n_test] if test_size is not None else None
    return perm[n_test + n_val :], perm[n_test : n_test + n_val], test
