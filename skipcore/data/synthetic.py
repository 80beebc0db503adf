"""Synthetic regression data: `sine` (seed 000) and `linear_plus_noise` (seed 002).

Both are deterministic given the run `seed`: samples are drawn from a CPU `torch.Generator`
seeded with it, then moved to `device`. Tensors are float32, x is (n, features), y is (n, 1).

The loaders return a `RegressionDataset`, a `Dataset` that also carries `target`, the noise-free
function f(x) (probes plot it next to the network's function). Image data for MLPs needs nothing
here: the MLP families flatten their input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from skipcore.data import dataset
from skipcore.data.base import Dataset

# linear_plus_noise draws its coefficients a, b from this fixed seed, so every run seed sees the
# same problem; the run seed only changes which samples (and which noise) are drawn.
PROBLEM_SEED = 1234


@dataclass
class RegressionDataset(Dataset):
    target: Optional[Callable[[Tensor], Tensor]] = None  # noise-free f(x) -> (n, 1)


def _drawn(params: Any, draw: Callable[[int], tuple[Tensor, Tensor]], target: Callable[[Tensor], Tensor],
           device: Any) -> RegressionDataset:
    """`n_train` then `n_val` examples from `draw`, with the spec's declared `info()`."""
    x_tr, y_tr = draw(params.n_train)
    x_va, y_va = draw(params.n_val)
    return RegressionDataset(params.info(), x_tr, y_tr, x_va, y_va, target=target).to(device)


def _sine_target(x: Tensor) -> Tensor:
    return torch.sin(x)


@dataset("sine")
def sine(params: Any, *, seed: int, root: Path | str | None = None, device: Any = "cpu") -> RegressionDataset:
    """x ~ U[x_min, x_max], y = sin(x) + noise * N(0, 1); train and val from one seeded stream."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = float(params.x_min), float(params.x_max)

    def draw(n: int) -> tuple[Tensor, Tensor]:
        x = lo + (hi - lo) * torch.rand(n, 1, generator=g)
        y = torch.sin(x) + params.noise * torch.randn(n, 1, generator=g)
        return x, y

    return _drawn(params, draw, _sine_target, device)


def linear_problem(in_features: int) -> tuple[Tensor, float]:
    """The fixed coefficients (a, b) of linear_plus_noise: a ~ N(0, 1/in_features), b ~ N(0, 1)."""
    g = torch.Generator().manual_seed(PROBLEM_SEED)
    a = torch.randn(in_features, generator=g) / math.sqrt(in_features)
    b = float(torch.randn(1, generator=g))
    return a, b


@dataset("linear_plus_noise")
def linear_plus_noise(
    params: Any, *, seed: int, root: Path | str | None = None, device: Any = "cpu"
) -> RegressionDataset:
    """x ~ N(0, I), y = a.x + b + nonlinear * sum_k sin(3 x_k) + noise * N(0, 1).

    (a, b) come from the fixed PROBLEM_SEED (see `linear_problem`); `seed` draws the samples.
    `nonlinear` 0 makes the noise-free problem exactly linear. `x_range` is set for 1-D inputs to
    the 0.1%/99.9% normal quantiles (+-3.09), the support the probes evaluate on.
    """
    a, b = linear_problem(params.in_features)
    nonlinear = float(params.nonlinear)

    def target(x: Tensor) -> Tensor:
        aa = a.to(x.device, x.dtype)
        return (x @ aa + b + nonlinear * torch.sin(3 * x).sum(1)).unsqueeze(1)

    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> tuple[Tensor, Tensor]:
        x = torch.randn(n, params.in_features, generator=g)
        y = target(x) + params.noise * torch.randn(n, 1, generator=g)
        return x, y

    return _drawn(params, draw, target, device)
