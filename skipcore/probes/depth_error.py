"""depth_error (seed 000 fig 4): Monte-Carlo error (1/M) sum_i (sin(x_i) - f(x_i))^2.

x_i are M = `n_points` points uniform on the training support (`data.info.x_range`), drawn from a
CPU generator seeded with `params.seed` (so every network is scored on the same points).
Returns {"mc_error": float, "n_points": M, "seed": int}.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from skipcore.probes.stats import evaluating

CHUNK = 65536


def run(model: nn.Module, data: Any, params: Any) -> dict:
    if data.info.x_range is None:
        raise ValueError("depth_error needs 1-D regression data with x_range (the sine data set)")
    lo, hi = data.info.x_range
    g = torch.Generator().manual_seed(params.seed)
    x = lo + (hi - lo) * torch.rand(params.n_points, 1, generator=g)
    device = data.x_train.device
    total = torch.zeros((), dtype=torch.float64, device=device)
    with evaluating(model):
        for i in range(0, params.n_points, CHUNK):
            xb = x[i : i + CHUNK].to(device)
            err = (torch.sin(xb) - model(xb)).double().pow(2).sum()
            total += err
    return {"mc_error": (total / params.n_points).item(), "n_points": params.n_points, "seed": params.seed}
