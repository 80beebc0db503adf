"""skip_ablation (seed 000 fig 1): keep only the first k / only the last k telescope skips.

For each k in `ks` (default 0, d/4, d/2, 3d/4, d rounded and deduplicated, d = depth) the model's
`skip_mask` keeps the first k (resp. last k) skips; the probe reports the validation MSE, the
realised function on `grid_points` x spread over the training support (`data.info.x_range`), and
`constant_like`: the standard deviation of that function over the grid (near 0 = a near-constant
function, the seed's "realizing a constant function"). The mask is restored afterwards.

    {"x": [...], "target": [...] (noise-free f(x), [] if unknown), "full": [...],
     "first": {"k": [...]}, "last": {"k": [...]}, "mse_full": v,
     "mse_first": {"k": v}, "mse_last": {"k": v}, "ks": [k, ...],
     "constant_like": {"full": v, "first": {"k": v}, "last": {"k": v}}}

Dict keys are k as strings (JSON). For inputs with more than one feature there is no grid:
"x" is [] and the curves are the model's outputs (first output) on the first `grid_points`
validation inputs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skipcore.probes.stats import evaluating

SUMMARY_KEYS = ()  # copied into the run summary as skip_ablation.<key> (see skipcore.probes)
FIGURE = "skip_ablation"  # its figure in skipcore.figures
AT_INIT = False


def default_ks(depth: int) -> list[int]:
    return sorted({round(depth * q) for q in (0, 0.25, 0.5, 0.75, 1.0)})


def _grid(data: Any, n: int) -> tuple[Tensor, list[float]]:
    device = data.x_val.device
    if data.info.in_shape == (1,) and data.info.x_range is not None:
        lo, hi = data.info.x_range
        x = torch.linspace(lo, hi, n, device=device).unsqueeze(1)
        return x, x.squeeze(1).tolist()
    return data.x_val[:n], []


def run(model: nn.Module, data: Any, params: Any) -> dict:
    depth = int(model.skip_mask.numel())
    ks = sorted({min(k, depth) for k in params.ks}) if params.ks is not None else default_ks(depth)
    x, xs = _grid(data, params.grid_points)
    target = getattr(data, "target", None)
    saved = model.skip_mask.clone()

    def measure(mask: Tensor) -> tuple[list[float], float, float]:
        model.set_skips(mask)
        curve = model(x)[:, 0]
        mse = F.mse_loss(model(data.x_val), data.y_val)
        return curve.tolist(), mse.item(), curve.std().item()

    out: dict[str, Any] = {"x": xs, "ks": ks, "target": target(x)[:, 0].tolist() if target is not None and xs else []}
    out["first"], out["last"], out["mse_first"], out["mse_last"] = {}, {}, {}, {}
    const: dict[str, Any] = {"first": {}, "last": {}}
    try:
        with evaluating(model):
            out["full"], out["mse_full"], const["full"] = measure(torch.ones(depth, dtype=torch.bool))
            idx = torch.arange(depth)
            for k in ks:
                key = str(k)
                out["first"][key], out["mse_first"][key], const["first"][key] = measure(idx < k)
                out["last"][key], out["mse_last"][key], const["last"][key] = measure(idx >= depth - k)
    finally:
        model.skip_mask.copy_(saved)
    out["constant_like"] = const
    return out
