"""Real data that ships inside scikit-learn's wheel (nothing to download): `digits` and `diabetes`.

- `digits`: `sklearn.datasets.load_digits`, 1,797 real 8x8 handwritten digits (0..9, pixel values
  0..16), as images (N, 1, 8, 8) scaled to [0, 1] and then standardised with the training images'
  mean and std (one channel). The MLP families flatten their input (64 features); the CNN
  families see 8x8 images.
- `diabetes`: `sklearn.datasets.load_diabetes(scaled=False)`, 442 patients, 10 raw features (age,
  sex, BMI, blood pressure, six serum measurements) and a disease-progression target one year
  later. Features and target are standardised with the training split's mean and std only
  (scikit-learn's own scaled copy uses the whole set's statistics, test included), so losses are
  in units of the training target's variance.

Both are split once into test, validation and training sets by `split_indices` with the spec's
`split_seed` (default 0; fixed, not the run seed, so run seeds vary the optimisation, not the
data): `test_size` and `val_size` are shares of the whole set (default 0.2 each: digits 359/359/
1079, diabetes 88/88/266). The test split is `x_test`/`y_test`, scored once after training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from skipcore.data import dataset
from skipcore.data.base import Dataset, split_indices
from skipcore.data.synthetic import RegressionDataset


def _standardise(train: torch.Tensor, *others: torch.Tensor, dims: tuple[int, ...]) -> list[torch.Tensor]:
    mean = train.mean(dim=dims, keepdim=True)
    std = train.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


@dataset("digits")
def digits(params: Any, *, seed: int, root: Path | None = None, device: Any = "cpu") -> Dataset:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.from_numpy(np.asarray(raw.images, dtype=np.float32)).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.from_numpy(np.asarray(raw.target, dtype=np.int64))
    tr, va, te = split_indices(len(x), params.split_seed, "digits", params.val_size, params.test_size)
    x_train, x_val, x_test = _standardise(x[tr], x[va], x[te], dims=(0, 2, 3))
    info = params.info()
    return Dataset(info, x_train, y[tr], x_val, y[va], None, x_test, y[te]).to(device)


@dataset("diabetes")
def diabetes(params: Any, *, seed: int, root: Path | None = None, device: Any = "cpu") -> RegressionDataset:
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(scaled=False)
    x = torch.from_numpy(np.asarray(raw.data, dtype=np.float32))
    y = torch.from_numpy(np.asarray(raw.target, dtype=np.float32)).unsqueeze(1)
    tr, va, te = split_indices(len(x), params.split_seed, "diabetes", params.val_size, params.test_size)
    x_train, x_val, x_test = _standardise(x[tr], x[va], x[te], dims=(0,))
    y_train, y_val, y_test = _standardise(y[tr], y[va], y[te], dims=(0,))
    info = params.info()
    ds = RegressionDataset(info, x_train, y_train, x_val, y_val, x_test=x_test, y_test=y_test)
    return ds.to(device)


__all__ = ["diabetes", "digits"]
