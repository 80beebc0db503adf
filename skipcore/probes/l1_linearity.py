"""l1_linearity (seed 002): which hidden units L1 pruned, and is what is left a linear model?

"If the problem is essentially linear, the hidden units tend to get pruned and you are left with
a linear model" (seed 002). For a `skip_layer_mlp`:

- per hidden unit (layer by layer), `max_in` = max |incoming weight| and `max_out` = max
  |outgoing weight|; a unit is `pruned` when both are below `threshold`, `inactive` when either
  is (it then adds no input-dependent term: a constant at most);
- `r2`: R^2 of a least-squares fit y ~ A x + c of the network's output on the inputs (a grid of
  `grid_points` over x_range for 1-D data, else the validation inputs), `effectively_linear`
  = r2 > 0.999 (a constant output counts as linear, r2 = 1);
- `linear_rms` = RMS of the skip-layer term W_skip x, `hidden_rms` = standard deviation over
  the inputs of the hidden path's output, `hidden_share` = hidden_rms / (linear_rms + hidden_rms),
  and `skip_weight_norm` = ||W_skip||_F (0 without a skip layer).

    {"layers": [...], "units": {layer: {"pruned": [bool], "inactive": [bool], "max_in": [...],
     "max_out": [...]}}, "n_units", "fraction_pruned", "fraction_inactive", "r2",
     "effectively_linear", "linear_rms", "hidden_rms", "hidden_share", "skip_weight_norm",
     "threshold", "n_inputs"}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from skipcore.probes.stats import evaluating

LINEAR_R2 = 0.999

SUMMARY_KEYS = ("fraction_pruned", "r2")  # into the run summary as l1_linearity.<key> (see skipcore.probes)
FIGURE = "l1_linearity"  # its figure in skipcore.figures
AT_INIT = False


def _inputs(data: Any, n: int) -> Tensor:
    if data.info.in_shape == (1,) and data.info.x_range is not None:
        lo, hi = data.info.x_range
        return torch.linspace(lo, hi, n, device=data.x_val.device).unsqueeze(1)
    return data.x_val.flatten(1)


def r_squared(x: Tensor, y: Tensor) -> float:
    """R^2 of the least-squares affine fit of y (n, k) on x (n, d), in float64."""
    x, y = x.double().cpu(), y.double().cpu()
    a = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.lstsq(a, y, driver="gelsd").solution
    ss_res = (y - a @ coef).pow(2).sum()
    ss_tot = (y - y.mean(0)).pow(2).sum()
    if ss_tot <= 1e-24 * max(len(y), 1):
        return 1.0
    return float(1.0 - ss_res / ss_tot)


def run(model: nn.Module, data: Any, params: Any) -> dict:
    with evaluating(model):
        units: dict[str, dict[str, list]] = {}
        hidden = list(model.hidden)
        nxt = hidden[1:] + [model.output] if hidden else []
        for i, (layer, after) in enumerate(zip(hidden, nxt)):
            max_in = layer.weight.abs().amax(1)
            max_out = after.weight.abs().amax(0)
            small_in, small_out = max_in < params.threshold, max_out < params.threshold
            units[f"hidden.{i}"] = {
                "pruned": (small_in & small_out).tolist(),
                "inactive": (small_in | small_out).tolist(),
                "max_in": max_in.tolist(),
                "max_out": max_out.tolist(),
            }
        n_units = sum(len(u["pruned"]) for u in units.values())
        x = _inputs(data, params.grid_points)
        y = model(x)
        lin, hid = model.linear_term(x), model.hidden_term(x)
        lin_w = lin - (model.direct.bias if model.direct is not None and model.direct.bias is not None else 0)
        linear_rms = lin_w.pow(2).mean().sqrt().item()
        hidden_rms = hid.std(0, correction=0).pow(2).mean().sqrt().item()
        r2 = r_squared(x, y)
        skip_norm = model.direct.weight.norm().item() if model.direct is not None else 0.0
    share = hidden_rms / (linear_rms + hidden_rms) if linear_rms + hidden_rms > 0 else 0.0
    return {
        "layers": list(units),
        "units": units,
        "n_units": n_units,
        "fraction_pruned": sum(sum(u["pruned"]) for u in units.values()) / n_units if n_units else 1.0,
        "fraction_inactive": sum(sum(u["inactive"]) for u in units.values()) / n_units if n_units else 1.0,
        "r2": r2,
        "effectively_linear": r2 > LINEAR_R2,
        "linear_rms": linear_rms,
        "hidden_rms": hidden_rms,
        "hidden_share": share,
        "skip_weight_norm": skip_norm,
        "threshold": params.threshold,
        "n_inputs": len(x),
    }
