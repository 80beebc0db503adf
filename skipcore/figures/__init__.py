"""Figures from probe results: PNG + SVG (matplotlib, Agg, headless) and a Vega-Lite v5 spec.

One function per probe with a figure, `fn(result, records=None) -> Figure | None`, in `FIGURES`;
`vega_only(fn, result, records)` is its Vega-Lite spec alone, without rendering the images.
`records` are layer-stat records `[{"name", "step", "values"}]` (the shape of GET /runs/{id}/layers),
used by `weight_magnitude` for its heat map over epochs. `depth_sweep(aggregate)` draws seed 000
fig 4 from an aggregate across runs; `training_curves(history)` the loss over epochs. A result
that lacks what a figure needs gives None, never an exception. Torch is never imported.
"""

from __future__ import annotations

from typing import Callable, Optional

from skipcore.figures.ablation import skip_ablation
from skipcore.figures.blocks import block_lesion, identity_ratio
from skipcore.figures.common import DOWN, DPI, OTHER, VEGA_SCHEMA, Figure, log, vega_only
from skipcore.figures.landscape import loss_landscape
from skipcore.figures.layers import gradient_flow, l1_linearity, weight_magnitude
from skipcore.figures.runs import depth_sweep, training_curves, training_vega

__all__ = ["DOWN", "DPI", "FIGURES", "OTHER", "VEGA_SCHEMA", "Figure", "block_lesion", "depth_sweep", "gradient_flow",
           "identity_ratio", "l1_linearity", "log", "loss_landscape", "skip_ablation", "training_curves",
           "training_vega", "vega_only", "weight_magnitude"]

FIGURES: dict[str, Callable[..., Optional[Figure]]] = {
    "weight_magnitude": weight_magnitude,
    "skip_ablation": skip_ablation,
    "gradient_flow": gradient_flow,
    "identity_ratio": identity_ratio,
    "block_lesion": block_lesion,
    "loss_landscape": loss_landscape,
    "l1_linearity": l1_linearity,
}
