"""gradient_flow: per-layer gradient norms over training (seed 000 "Further ideas": identity vs He).

The loop records them (`fit` with this probe in `probes`, as `RECORDS` declares): the
weight-gradient norm of every layer at each of the first `first_k` updates, and at the last step
of every `every`-th epoch. The records reach this probe as `run(..., records=FitResult.records)`
(they are in checkpoints too, so a resumed run has them; `skipcore.train.records.run_probe`
hands them over). Result:

    {"layers": [...], "first_updates": [[norm per layer] per update], "init": [...] (the first
     update's norms, [] if none), "final": [...], "every": [{"epoch": e, "grad_norm": [...]}]}

"final" is the gradient at the trained weights, computed here on up to 1024 training samples
(plain data loss, no L1), so it exists even for a model trained elsewhere. Parameters' `.grad`
and training flags are restored afterwards.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from skipcore.probes import stats
from skipcore.train.loop import loss_fn
from skipcore.train.records import Records

N_FINAL = 1024
RECORDS = Records(init=True, layers_every="every", first_updates="first_k", grad_norm_every="every")

SUMMARY_KEYS = ()  # copied into the run summary as gradient_flow.<key> (see skipcore.probes)
FIGURE = "gradient_flow"  # its figure in skipcore.figures
AT_INIT = False


def _final_grad_norms(model: nn.Module, data: Any) -> list[float]:
    params = list(model.parameters())
    saved = [p.grad for p in params]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for p in params:
            p.grad = None
        with torch.enable_grad():
            x, y = data.x_train[:N_FINAL], data.y_train[:N_FINAL]
            loss_fn(data.info.task)(model(x), y).backward()
        return stats.grad_norms(model).tolist()
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        for m, mode in modes.items():
            m.training = mode


def run(model: nn.Module, data: Any, params: Any, records: Optional[dict] = None) -> dict:
    records = records or {}
    first = [list(r) for r in records.get("first_updates", [])][: params.first_k]
    return {
        "layers": stats.layer_names(model),
        "first_updates": first,
        "init": first[0] if first else [],
        "final": _final_grad_norms(model, data),
        "every": [dict(e) for e in records.get("every", [])],
    }
