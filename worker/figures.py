"""Render a run's figures and store them as artifacts: `figures/<name>.png`, `.svg` (kind `figure`) and
`figures/<name>.vl.json` (kind `vega`, a Vega-Lite v5 spec with the data inlined).

`probe_figure` after each succeeded probe (`skipcore.figures.FIGURES`); `training_figure` once per
run, from the train/val loss (and accuracy) history read back from the database. Drawing a figure
never fails a run: any error is logged and the run goes on.

The training figure's PNG and SVG are not drawn here: the worker stores its Vega-Lite spec (the
curve data inlined, a few ms) and the API draws the two from it on first request
(`api/lazy_figures.py`). Drawing them with matplotlib took 0.2-0.5 s of every run: most of a
short run's time, for pictures most runs never show.
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
    """Store the training curves' Vega-Lite spec (`figures/training.vl.json`) from the run's metric
    history. Returns the names the figure is served under: `.png` and `.svg` too, which the API
    draws from that spec when they are first listed or downloaded."""
    try:
        from skipcore import figures

        vega = figures.training_vega(_history(ctx, run_id))
        if vega is None:
            return []
        name = "figures/training.vl.json"
        record_any(ctx, run_id, name, "vega", json.dumps(vega, allow_nan=False).encode(), "application/json")
        return ["figures/training.png", "figures/training.svg", name]
    except Exception:  # noqa: BLE001
        log.exception("training figure of run %s failed", run_id)
        return []
