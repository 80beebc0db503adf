"""An experiment's own figures, drawn by the figure task once every run has finished: the sweep
chart (`skipcore.charts.sweep_svg`, the mean over seeds against the sweep value) of the metric the
report's tables lead with. Stored as one JSON document in the object store
(`persistence.queue.experiment_figures_key`), which the report page inlines as it is.

The runs' final numbers are read as the report reads them: each run's latest metric values,
overlaid by its summary, finite numbers only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Optional

from persistence.db import session_scope
from persistence.models import FINISHED
from persistence.queue import FIGURE_RUNS, experiment_figures_key
from persistence.repo import experiments as exp_repo
from persistence.repo import metrics as metrics_repo
from skipcore.charts import chart_metric, metric_columns, sweep_svg
from skipcore.stats import by_sweep_point, finite_number
from worker.context import WorkerContext

log = logging.getLogger("skipcore.worker")


@dataclass
class Finals:
    id: str
    params: dict
    status: str
    finals: dict[str, float]


@dataclass
class ExperimentRuns:
    finished: bool  # every run has ended
    runs: list[Finals]  # in sweep order


def read_runs(ctx: WorkerContext, experiment_id: str) -> Optional[ExperimentRuns]:
    """The experiment's runs with their final numbers; None for an unknown experiment."""
    with session_scope(ctx.sessions) as s:
        exp = exp_repo.get(s, experiment_id)
        if exp is None:
            return None
        runs = list(exp.runs)
        latest: dict = {}
        for i in range(0, len(runs), 500):  # ids per IN (...) list
            latest.update(metrics_repo.latest(s, [r.id for r in runs[i: i + 500]]))
        rows = [Finals(r.id, r.params or {}, r.status,
                       {k: x for k, v in {**latest.get(r.id, {}), **(r.summary or {})}.items()
                        if (x := finite_number(v)) is not None}) for r in runs]
    return ExperimentRuns(all(r.status in FINISHED for r in rows), rows)


def sweep_document(runs: list[Finals]) -> dict[str, Any]:
    """The stored document: the sweep chart's SVG (None when the runs give no chart) and its metric."""
    cols = metric_columns(r.finals for r in runs)
    metric = chart_metric(cols)
    svg = sweep_svg(by_sweep_point(runs, cols), metric) if metric else ""
    return {"sweep_svg": svg or None, "metric": metric}


def draw(ctx: WorkerContext, experiment_id: str, runs: ExperimentRuns) -> bool:
    """Store the experiment's figures when every run has finished. Returns whether it stored them."""
    if not runs.finished:
        return False
    try:
        doc = json.dumps(sweep_document(runs.runs), allow_nan=False).encode()
        ctx.store.put(experiment_figures_key(experiment_id), doc, content_type="application/json")
        return True
    except Exception:  # noqa: BLE001 - a figure never fails its caller
        log.exception("drawing the figures of experiment %s failed", experiment_id)
        return False


def shown_runs(runs: ExperimentRuns) -> list[str]:
    """The runs whose figures the report shows (the first ones), finished ones only."""
    return [r.id for r in runs.runs[:FIGURE_RUNS] if r.status in FINISHED]
