"""depth_error (seed 000 fig 4): Monte-Carlo error (1/M) sum_i (sin(x_i) - f(x_i))^2.

x_i are M = `n_points` points uniform on the training support [a, b] (`data.info.x_range`), drawn
by their own generator: numpy's PCG64 seeded with `SeedSequence([params.seed, STREAM])`, in
float64, then cast to the model's float32. The data sets draw from torch's Mersenne Twister
(`torch.Generator`), a different algorithm, so the MC points are not the training (or validation)
inputs whatever the run and probe seeds; every network scored with the same probe seed sees the
same points. Returns {"mc_error": float, "n_points": M, "seed": int, "points": {how they were
drawn}}.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from skipcore.probes.stats import evaluating

CHUNK = 65536
STREAM = 0x4D43  # "MC": the second word of the seed sequence, so this stream is the probe's own

SUMMARY_KEYS = ("mc_error",)  # copied into the run summary as depth_error.<key> (see skipcore.probes)
FIGURE = None  # no figure of its own: skipcore.figures.depth_sweep draws it across runs
AT_INIT = False


def mc_points(lo: float, hi: float, n: int, seed: int) -> torch.Tensor:
    """(n, 1) float32 points uniform on [lo, hi] from the probe's own generator (module docstring)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM])))
    return torch.from_numpy(rng.uniform(lo, hi, size=(n, 1))).float()


def run(model: nn.Module, data: Any, params: Any) -> dict:
    if data.info.x_range is None:
        raise ValueError("depth_error needs 1-D regression data with x_range (the sine data set)")
    lo, hi = data.info.x_range
    x = mc_points(lo, hi, params.n_points, params.seed)
    device = data.x_train.device
    total = torch.zeros((), dtype=torch.float64, device=device)
    with evaluating(model):
        for i in range(0, params.n_points, CHUNK):
            xb = x[i : i + CHUNK].to(device)
            err = (torch.sin(xb) - model(xb)).double().pow(2).sum()
            total += err
    points = {
        "n": params.n_points,
        "distribution": f"uniform on the training support [{lo}, {hi}]",
        "generator": f"numpy PCG64, SeedSequence([{params.seed}, {STREAM}]) (independent of the data's torch generator)",
    }
    return {"mc_error": (total / params.n_points).item(), "n_points": params.n_points, "seed": params.seed,
            "points": points}
