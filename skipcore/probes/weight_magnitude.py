"""weight_magnitude (seed 000 figs 2/3): mean |W| of every layer of the trained model.

The curve over training comes from the loop's layer statistics ("weight_mean_abs" every `every`
epochs, and epoch 0 = init; declared in `RECORDS`); this probe gives the final profile:
{"layers": [name, ...], "mean_abs": [float, ...]} in `model.layer_names()` order.
"""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

from skipcore.probes import stats
from skipcore.train.records import Records

RECORDS = Records(init=True, layers_every="every")

SUMMARY_KEYS = ()  # copied into the run summary as weight_magnitude.<key> (see skipcore.probes)
FIGURE = "weight_magnitude"  # its figure in skipcore.figures
AT_INIT = False


def run(model: nn.Module, data: Any, params: Any, records: Optional[dict] = None) -> dict:
    """The trained profile (the curve is in the run's layer statistics, not in `records`)."""
    return {"layers": stats.layer_names(model), "mean_abs": stats.weight_mean_abs(model).tolist()}
