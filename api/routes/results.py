"""Results people and dashboards use: aggregates across seeds, experiments side by side, heat maps.

- `GET /v1/experiments/{id}/aggregate`: per sweep point (runs grouped by `params`, in sweep order),
  across seeds, mean / sample std / Student-t 95% CI of each final number. Only succeeded runs
  count. A run's final numbers are its `summary` over its latest metric values (summary wins).
- `GET /v1/compare?experiments=a,b`: the same statistics per experiment, side by side.
- `GET /v1/runs/{id}/layers/matrix`: one layer statistic as steps × layers, downsampled in SQL.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

from fastapi import APIRouter, HTTPException, Query

from api.deps import ExperimentDep, ReadKey, RunDep, SessionDep
from api.errors import FieldProblem, unprocessable
from api.routes.runs import known_layer_stat
from api.schemas import Aggregate, AggregatePoint, Compare, CompareItem, FieldErrors, LayerAgg, LayerMatrixOut, Stat
from api.stats import BOOKKEEPING, finite_number, summarize, summarize_columns
from persistence.models import Run
from persistence.repo import experiments as exp_repo
from persistence.repo import metrics as metrics_repo

router = APIRouter(prefix="/v1", tags=["results"])

MAX_RUNS = 2000  # runs one aggregate or compare request reads
MAX_COMPARE = 20  # experiments one compare request reads
MAX_NAMES = 100  # ?metric= names
MAX_LAYER_NAMES = 10  # ?layers= names
MATRIX_STEPS_DEFAULT, MATRIX_STEPS_MAX = 500, 10_000
_CHUNK = 500  # ids per IN (...) list


# ---------------------------------------------------------------------------------------- helpers


def _names(raw: Optional[list[str]], field: str, cap: int) -> Optional[list[str]]:
    """Repeatable or comma-separated names, deduplicated in order; None when not given."""
    if not raw:
        return None
    out = list(dict.fromkeys(n.strip() for item in raw for n in item.split(",") if n.strip()))
    if len(out) > cap:
        raise FieldProblem([{"field": field, "type": "too_many", "message": f"at most {cap} names, got {len(out)}"}])
    return out or None


def _finals(session, runs: list[Run]) -> dict[str, dict[str, float]]:
    """Each run's final numbers: its latest metric values, overlaid by its summary (less the
    summary's bookkeeping: how the run was executed, not what it found)."""
    ids = [r.id for r in runs]
    latest: dict[str, dict[str, Optional[float]]] = {}
    for i in range(0, len(ids), _CHUNK):
        latest.update(metrics_repo.latest(session, ids[i : i + _CHUNK]))
    out = {}
    for r in runs:
        merged = {**latest.get(r.id, {}), **(r.summary or {})}
        out[r.id] = {k: x for k, v in merged.items()
                     if k not in BOOKKEEPING and (x := finite_number(v)) is not None}
    return out


def _stats(finals: list[dict[str, float]], names: Optional[list[str]]) -> dict[str, Stat]:
    keys = names if names is not None else sorted({k for f in finals for k in f})
    return {k: Stat(**summarize(f.get(k) for f in finals)) for k in keys}


def _too_many_runs(n: int, what: str):
    return unprocessable([{"field": "experiments" if what == "compare" else "experiment_id", "type": "too_many",
                           "message": f"{n} runs to read; {what} reads at most {MAX_RUNS} runs per request"}],
                         where="query" if what == "compare" else "path")


# ----------------------------------------------------------------------------------------- routes


@router.get("/experiments/{experiment_id}/aggregate", response_model=Aggregate, response_model_exclude_none=False,
            summary="Per sweep point, across seeds: mean, std and 95% CI of each run's final numbers",
            responses={404: {"description": "unknown experiment"}, 422: {"model": FieldErrors, "description": "too many names or runs"}})
def aggregate(
    exp: ExperimentDep,
    session: SessionDep,
    metric: Annotated[Optional[list[str]], Query(description="metric names (repeat or comma list)")] = None,
    layers: Annotated[Optional[list[str]], Query(description="layer statistics, e.g. weight_mean_abs")] = None,
):
    names = _names(metric, "metric", MAX_NAMES)
    layer_names = _names(layers, "layers", MAX_LAYER_NAMES)
    runs = list(exp.runs)  # in sweep order (run.index)
    if len(runs) > MAX_RUNS:
        return _too_many_runs(len(runs), "aggregate")
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r.params or {}, sort_keys=True), []).append(r)
    ok = [r for r in runs if r.status == "succeeded"]
    finals = _finals(session, ok)
    last = metrics_repo.last_layer_stats(session, [r.id for r in ok], layer_names) if layer_names and ok else {}
    points = []
    for members in groups.values():
        done = [r for r in members if r.status == "succeeded"]
        counts: dict[str, int] = {}
        for r in members:
            counts[r.status] = counts.get(r.status, 0) + 1
        point = AggregatePoint(
            params=members[0].params or {}, n=len(done), runs=counts, run_ids=[r.id for r in members],
            seeds=[r.seed for r in members], metrics=_stats([finals[r.id] for r in done], names),
        )
        if layer_names:
            point.layers = {ln: LayerAgg(**summarize_columns([last[(r.id, ln)] for r in done if (r.id, ln) in last]))
                            for ln in layer_names}
        points.append(point)
    all_names = sorted({k for p in points for k in p.metrics})
    return Aggregate(experiment_id=exp.id, status=exp.status, points=points, metrics=all_names)


@router.get("/compare", response_model=Compare,
            summary="Experiments side by side: each one's final numbers across its succeeded runs",
            responses={404: {"description": "an experiment is unknown"},
                       422: {"model": FieldErrors,
                                                  "description": "no ids, more than 20, or too many runs"}})
def compare(
    session: SessionDep,
    principal: ReadKey,
    experiments: Annotated[Optional[list[str]], Query(description=f"1 to {MAX_COMPARE} experiment ids, comma list")] = None,
    metric: Annotated[Optional[list[str]], Query(description="metric names (repeat or comma list)")] = None,
):
    ids = list(dict.fromkeys(i.strip() for item in (experiments or []) for i in item.split(",") if i.strip()))
    if not ids:
        return unprocessable([{"field": "experiments", "type": "missing",
                               "message": "give 1 to 20 experiment ids: ?experiments=id1,id2"}], where="query")
    if len(ids) > MAX_COMPARE:
        return unprocessable([{"field": "experiments", "type": "too_many",
                               "message": f"{len(ids)} experiment ids; compare takes at most {MAX_COMPARE}"}],
                             where="query")
    if any(len(i) > 64 for i in ids):
        return unprocessable([{"field": "experiments", "type": "too_long", "message": "an id is over 64 characters"}],
                             where="query")
    names = _names(metric, "metric", MAX_NAMES)
    found = {e.id: e for e in exp_repo.get_many(session, ids, owner=principal.owner_filter)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise HTTPException(404, f"experiment {missing[0]!r} not found")
    total = sum(len(found[i].runs) for i in ids)
    if total > MAX_RUNS:
        return _too_many_runs(total, "compare")
    ok = [r for i in ids for r in found[i].runs if r.status == "succeeded"]
    finals = _finals(session, ok)
    items = []
    for i in ids:
        e = found[i]
        done = [r for r in e.runs if r.status == "succeeded"]
        items.append(CompareItem(
            id=e.id, name=e.name, status=e.status,
            spec={k: e.spec.get(k) for k in ("model", "data", "train")}, sweep=e.spec.get("sweep") or {},
            runs=len(e.runs), succeeded=len(done), summary=_stats([finals[r.id] for r in done], names),
        ))
    return Compare(experiments=items, metrics=sorted({k for it in items for k in it.summary}))


@router.get("/runs/{run_id}/layers/matrix", response_model=LayerMatrixOut,
            summary="One layer statistic as a steps × layers matrix (heat maps), at most max_steps steps")
def layer_matrix(
    run: RunDep,
    session: SessionDep,
    name: Annotated[str, Query(max_length=200, description="the statistic, e.g. weight_mean_abs or grad_norm")]
    = "weight_mean_abs",
    max_steps: Annotated[int, Query(ge=2, le=MATRIX_STEPS_MAX)] = MATRIX_STEPS_DEFAULT,
):
    known_layer_stat(session, run, name)
    m = metrics_repo.layer_matrix(session, run.id, name, max_steps=max_steps)
    return LayerMatrixOut(run_id=run.id, name=name, layers=list(run.layer_names or []), steps=m.steps,
                          values=m.values)
