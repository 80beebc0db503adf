"""Render a run's figures and store them as artifacts: `figures/<name>.png`, `.svg` (kind `figure`) and
`figures/<name>.vl.json` (kind `vega`, a Vega-Lite v5 spec with the data inlined). The worker is
the only place figures are drawn; the API serves the stored bytes.

While a run finishes, only the figures' Vega-Lite specs are stored: `probe_spec` after each
succeeded probe (`skipcore.figures.FIGURES`, laid out but not rendered: tens of ms) and
`training_figure` from the train/val loss (and accuracy) history read back from the database (a
few ms). Rendering PNG and SVG with matplotlib takes 0.2-0.5 s a figure on an idle machine (a
weight-magnitude heat map several seconds under load), most of a short run's time, so none of it
is on the run's path. A stored spec without its PNG is a figure being drawn: the API answers 202
for it and the report shows a placeholder. Storing or drawing a figure never fails a run: any
error is logged and the run goes on.

The figure task (`worker.tasks.figures_task`, `missing_figures` here) draws the images: a run's
probe figures once the run is finished (the task that ran it asks for them, so they appear without
anyone asking); the training curves when they are asked for, by the report page for the runs it
shows or by a download of one of them (pictures nobody opened never hold up a sweep's next runs).
It also draws probe figures missing beside a stored probe result (a run finished before that
figure existed). When an experiment's last run ends it draws the experiment's sweep chart (pure
Python, milliseconds).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Optional

from persistence.db import session_scope
from persistence.repo import artifacts as artifact_repo
from persistence.repo import metrics as metrics_repo
from persistence.repo import probes as probe_repo
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


def _probe_records(ctx: WorkerContext, run_id: str, probe: str) -> Optional[list[dict]]:
    return _layer_records(ctx, run_id, "weight_mean_abs") if probe == "weight_magnitude" else None


def probe_figure(ctx: WorkerContext, run_id: str, probe: str, result: dict, images: bool = True) -> list[str]:
    """Store the figure of one probe result: its PNG, SVG and Vega-Lite spec, or with `images`
    false the spec alone (`figures/<probe>.vl.json`; the figure task draws the images,
    `missing_figures`). Returns the names the figure is served under (none for probes without a
    figure, or a result it cannot be drawn from)."""
    try:
        from skipcore import figures

        fn = figures.FIGURES.get(probe)
        if fn is None:
            return []
        records = _probe_records(ctx, run_id, probe)
        if images:
            fig = fn(result, records=records)
            return store(ctx, run_id, fig) if fig is not None else []
        vega = figures.vega_only(fn, result, records=records)
        if vega is None:
            return []
        name = f"figures/{probe}.vl.json"
        record_any(ctx, run_id, name, "vega", json.dumps(vega, allow_nan=False).encode(), "application/json")
        return [f"figures/{probe}.png", f"figures/{probe}.svg", name]
    except Exception:  # noqa: BLE001 - a figure never fails a run
        log.exception("figure for probe %s of run %s failed", probe, run_id)
        return []


def probe_spec(ctx: WorkerContext, run_id: str, probe: str, result: dict) -> list[str]:
    """`probe_figure` without the images: what a finishing run stores."""
    return probe_figure(ctx, run_id, probe, result, images=False)


def _history(ctx: WorkerContext, run_id: str) -> dict[str, list[tuple[int, Optional[float]]]]:
    with session_scope(ctx.sessions) as s:
        present = set(metrics_repo.keys(s, run_id))
        return {k: [(step, value) for step, value, _ in metrics_repo.downsample(s, run_id, k, CURVE_POINTS)]
                for k in CURVE_KEYS if k in present}


def training_figure(ctx: WorkerContext, run_id: str) -> list[str]:
    """Store the training curves' Vega-Lite spec (`figures/training.vl.json`) from the run's metric
    history. Returns the names the figure is served under: `.png` and `.svg` too, which the figure
    task draws from that spec (`training_images`)."""
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


def _curves(vega: dict[str, Any]) -> dict[str, list[tuple[Any, Any]]]:
    history: dict[str, list[tuple[Any, Any]]] = {}
    for row in vega["data"]["values"]:
        history.setdefault(row["metric"], []).append((row["epoch"], row["value"]))
    return history


def training_images(ctx: WorkerContext, run_id: str) -> list[str]:
    """Draw and store `figures/training.png` and `.svg` from the stored Vega-Lite spec (the same
    curves, so the three agree). Returns the names stored; none when the spec is missing or the
    figure cannot be drawn (logged)."""
    try:
        from skipcore import figures

        with session_scope(ctx.sessions) as s:
            spec = artifact_repo.get(s, run_id, "figures/training.vl.json")
            uri = spec.uri if spec is not None else None
        if uri is None:
            return []
        fig = figures.training_curves(_curves(json.loads(ctx.store.get(uri))))
        if fig is None:
            return []
        names = [("figures/training.png", fig.png, "image/png"), ("figures/training.svg", fig.svg, "image/svg+xml")]
        for name, blob, content_type in names:
            record_any(ctx, run_id, name, "figure", blob, content_type)
        return [n for n, _, _ in names]
    except Exception:  # noqa: BLE001 - a figure never fails its caller
        log.exception("drawing the training figure of run %s failed", run_id)
        return []


def missing_figures(ctx: WorkerContext, run_ids: Iterable[str], training: bool = True) -> list[str]:
    """Draw what each run lacks: the figure of each succeeded probe result without its PNG, and
    (`training`) the training PNG/SVG beside a stored spec. Returns the names stored (`run_id/name`)."""
    drawn: list[str] = []
    for run_id in run_ids:
        from skipcore import figures  # matplotlib: imported only when there is a run to look at

        with session_scope(ctx.sessions) as s:
            have = {a.name for a in artifact_repo.list_for_run(s, run_id)}
            results = [(p.name, p.result) for p in probe_repo.for_run(s, run_id) if p.status == "succeeded"]
        names: list[str] = []
        if training and "figures/training.vl.json" in have and not {"figures/training.png", "figures/training.svg"} <= have:
            names += training_images(ctx, run_id)
        for name, result in results:
            if name in figures.FIGURES and f"figures/{name}.png" not in have:
                names += probe_figure(ctx, run_id, name, result or {})
        drawn += [f"{run_id}/{n}" for n in names]
    return drawn
