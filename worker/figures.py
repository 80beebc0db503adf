"""Render a run's figures and store them as artifacts: `figures/<name>.png`, `.svg` (kind `figure`) and
`figures/<name>.vl.json` (kind `vega`, a Vega-Lite v5 spec with the data inlined).

`probe_figure` after each succeeded probe (`skipcore.figures.FIGURES`); `training_figure` once per
run, from the train/val loss (and accuracy) history read back from the database. Drawing a figure
never fails a run: any error is logged and the run goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

from persistence.db import session_scope
from persistence.repo import metrics as metrics_repo
from worker.context import WorkerContext
from worker.reporter import record_any

log = logging.getLogger("skipcore.worker")
HEAT_STEPS = 200  # epochs (rows) at most in the weight-magnitude heat map
CURVE_POINTS = 2000  # points at most per training curve
CURVE_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


def store(ctx: WorkerContext, run_id: str, fig: Any) -> list[str]:
    """Store one `skipcore.figures.Figure` as its three artifacts; returns their names."""
    base = f"figures/{fig.name}"
    parts = [(f"{base}.png", "figure", fig.png, "image/png"),
             (f"{base}.svg", "figure", fig.svg, "image/svg+xml"),
             (f"{base}.vl.json", "vega", json.dumps(fig.vega, allow_nan=False).encode(), "application/json")]
    for name, kind, blob, content_type in parts:
        record_any(ctx, run_id, name, kind, blob, content_type)
    return [p[0] for p in parts]


def _layer_records(ctx: WorkerContext, run_id: str, name: str) -> list[dict]:
    with session_scope(ctx.sessions) as s:
        m = metrics_repo.layer_matrix(s, run_id, name, max_steps=HEAT_STEPS)
    return [{"name": name, "step": step, "values": values} for step, values in zip(m.steps, m.values)]


def probe_figure(ctx: WorkerContext, run_id: str, probe: str, result: dict) -> list[str]:
    """Draw and store the figure of one probe result (none for probes without a figure)."""
    try:
        from skipcore import figures

        fn = figures.FIGURES.get(probe)
        if fn is None:
            return []
        records = _layer_records(ctx, run_id, "weight_mean_abs") if probe == "weight_magnitude" else None
        fig = fn(result, records=records)
        return store(ctx, run_id, fig) if fig is not None else []
    except Exception:  # noqa: BLE001 - a figure never fails a run
        log.exception("figure for probe %s of run %s failed", probe, run_id)
        return []


def _history(ctx: WorkerContext, run_id: str) -> dict[str, list[tuple[int, Optional[float]]]]:
    with session_scope(ctx.sessions) as s:
        present = set(metrics_repo.keys(s, run_id))
        return {k: [(step, value) for step, value, _ in metrics_repo.downsample(s, run_id, k, CURVE_POINTS)]
                for k in CURVE_KEYS if k in present}


def training_figure(ctx: WorkerContext, run_id: str) -> list[str]:
    """Draw and store the training curves (`figures/training.*`) from the run's metric history."""
    try:
        from skipcore import figures

        fig = figures.training_curves(_history(ctx, run_id))
        return store(ctx, run_id, fig) if fig is not None else []
    except Exception:  # noqa: BLE001
        log.exception("training figure of run %s failed", run_id)
        return []
