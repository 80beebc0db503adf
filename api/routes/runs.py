"""Runs: one run, its cancel, its metric keys and histories (cursor, window, downsampled), layer statistics."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import orjson

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import func, select

from api.convert import run_out
from api.deps import RunDep, SessionDep, SettingsDep, WriteKey
from api.errors import unknown_name, unprocessable
from api.schemas import UNPROCESSABLE, LayerStatOut, LayerStats, MetricHistory, MetricKeys, RunOut, iso_ts
from persistence.models import FINISHED, LayerStat, MetricPoint, Run
from persistence.repo import experiments as exp_repo
from persistence.repo import metrics as metrics_repo

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.get("/{run_id}", response_model=RunOut, summary="One run: status, progress, summary",
            responses={404: {"description": "unknown run"}})
def get_run(run: RunDep):
    return run_out(run)


@router.post("/{run_id}/cancel", status_code=202, response_model=RunOut,
             summary="Cancel one run: queued, it never starts; running, it stops at its next step "
                     "(the experiment's other runs go on)",
             responses={404: {"description": "unknown run"}, 409: {"description": "already finished"}})
def cancel_run(run: RunDep, session: SessionDep, principal: WriteKey):
    if run.status == "cancelled":
        return run_out(run)  # cancelling twice is harmless
    if run.status in ("succeeded", "failed"):
        raise HTTPException(409, f"run already {run.status}")
    exp_repo.request_cancel_run(session, run)
    session.commit()
    return run_out(run)


@router.get("/{run_id}/metrics", response_model=MetricKeys, summary="The metric keys a run has recorded")
def metric_keys(run: RunDep, session: SessionDep):
    return MetricKeys(keys=metrics_repo.keys(session, run.id))


@router.get("/{run_id}/metrics/{key}", response_model=MetricHistory,
            summary="A metric's history: pages by cursor, or downsampled to max_points over the whole range",
            responses={404: {"description": "unknown run, or no such metric (the detail names the run's metrics)"},
                       **UNPROCESSABLE})
def metric_history(
    run: RunDep,
    session: SessionDep,
    settings: SettingsDep,
    key: str,
    max_points: Annotated[Optional[int], Query(ge=2, le=100_000)] = None,
    limit: Annotated[Optional[int], Query(ge=1)] = None,
    cursor: Annotated[Optional[str], Query(max_length=40)] = None,
    step_min: Annotated[Optional[int], Query()] = None,
    step_max: Annotated[Optional[int], Query()] = None,
    format: Annotated[Literal["points", "columns"], Query(
        description="`points` (the default): `points: [{step, value, time}]`; `columns`: the same history "
                    "as `steps: [...]`, `values: [...]`, `times: [...]` (for charts: fewer bytes, faster to encode and to parse)")] = "points",
):
    columns = format == "columns"
    if max_points is not None:
        # `downsampled` says whether points were dropped: a history that fits is returned whole
        fits = _count_upto(session, run.id, key, max_points + 1, step_min, step_max) <= max_points
        pts = metrics_repo.downsample(session, run.id, key, max_points, step_min=step_min, step_max=step_max)
        _known_key(session, run.id, key, pts)
        return _history(key, pts, None, downsampled=not fits, columns=columns)
    after = None
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            return unprocessable([{"field": "cursor", "message": "malformed cursor", "type": "value_error"}],
                                 where="query")
    n = min(limit or settings.history_page_max, settings.history_page_max)
    pts, nxt = metrics_repo.history(session, run.id, key, after_step=after, limit=n, step_min=step_min,
                                    step_max=step_max)
    _known_key(session, run.id, key, pts)
    return _history(key, pts, None if nxt is None else str(nxt), columns=columns)


def _known_key(session, run_id: str, key: str, pts) -> None:
    """404 naming the run's metrics when `key` is not one of them (asked only when no point came
    back: a key with points exists, so a read of a known key costs no extra query)."""
    if not pts:
        keys = metrics_repo.keys(session, run_id)
        if key not in keys:
            raise unknown_name("metric", key, keys, where="this run")


def _count_upto(session, run_id: str, key: str, cap: int, step_min: Optional[int], step_max: Optional[int]) -> int:
    """Points of the history in the step range, counted up to `cap` (an index-only scan)."""
    stmt = select(MetricPoint.step).where(MetricPoint.run_id == run_id, MetricPoint.key == key)
    if step_min is not None:
        stmt = stmt.where(MetricPoint.step >= step_min)
    if step_max is not None:
        stmt = stmt.where(MetricPoint.step <= step_max)
    return session.scalar(select(func.count()).select_from(stmt.limit(cap).subquery())) or 0


def _history(key: str, pts, next_cursor: Optional[str], downsampled: bool = False, columns: bool = False) -> Response:
    """The MetricHistory body (or its columnar form) as JSON bytes by orjson: validating and
    dumping 10^5 pydantic Points cost more than the query. A worker stamps one time per flush of
    an epoch's scalars, so the ISO strings are made once per distinct time. A non-finite value
    is read as NULL (and orjson writes any NaN/inf as null too)."""
    iso = {t: iso_ts(t) for t in {p[2] for p in pts}}
    if columns:
        body = {"key": key, "steps": [p[0] for p in pts], "values": [p[1] for p in pts],
                "times": [iso[p[2]] for p in pts]}
    else:
        body = {"key": key, "points": [{"step": p[0], "value": p[1], "time": iso[p[2]]} for p in pts]}
    body.update(next_cursor=next_cursor, downsampled=downsampled)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/{run_id}/layers", response_model=LayerStats,
            summary="Per-layer statistics (one value per layer) over training",
            responses={404: {"description": "unknown run, or no statistic called `name` (the detail names them)"}})
def layer_stats(
    run: RunDep,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[Optional[str], Query(max_length=200)] = None,
    step: Annotated[Optional[int], Query()] = None,
):
    if name is not None:
        known_layer_stat(session, run, name)
    rows = metrics_repo.layer_stats(session, run.id, name=name, step=step, limit=settings.page_max * 10)
    return LayerStats(
        stats=[LayerStatOut(name=n, step=s, values=v) for n, s, v in rows],
        layers=list(run.layer_names or []),
    )


def known_layer_stat(session, run: Run, name: str) -> None:
    """404 naming the statistics the run has when it has none called `name` (a run that has not
    written any yet, and may still, is not refused: its statistics come with its first epoch)."""
    names = list(session.scalars(select(LayerStat.name).where(LayerStat.run_id == run.id).distinct()))
    if name not in names and (names or run.status in FINISHED):
        raise unknown_name("layer statistic", name, names, where="this run")
