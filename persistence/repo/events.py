"""The per-run event log the SSE stream replays: status, progress and metric events.

A metrics event stores no values: only which steps of which keys a flush wrote,
`{"steps": {key: [first, last]}}`; `since` reads those points from `metric_points` as it
replays, so every point is stored once. Retention (`prune`): progress and metrics events of runs
finished longer ago than the retention period are deleted (the sweeper does it); status events
stay, so a finished run's stream still ends with its final status. Every append marks the run
for `persistence.notify`, which wakes the streams when the transaction commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Optional

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from persistence import notify
from persistence.models import Run, RunEvent
from persistence.repo import metrics as metrics_repo

MAX_POINTS_PER_EVENT = 10_000


def append(session: Session, run_id: str, kind: str, data: dict[str, Any]) -> None:
    session.add(RunEvent(run_id=run_id, kind=kind, data=data))
    notify.mark(session, run_id)


def append_metrics(session: Session, run_id: str, points: Iterable[tuple[str, int, float, float]]) -> None:
    """The metrics event of a batch of `(key, step, value, time)` points just written."""
    spans: dict[str, list[int]] = {}
    for key, step, _, _ in points:
        span = spans.setdefault(key, [int(step), int(step)])
        span[0], span[1] = min(span[0], int(step)), max(span[1], int(step))
    if spans:
        append(session, run_id, "metrics", {"steps": spans})


def since(session: Session, run_id: str, after_id: Optional[int], limit: int = 500) -> list[tuple[int, str, dict]]:
    """`(id, kind, data)` of the events after `after_id`; a metrics event's data is
    `{"points": {key: [[step, value or None], ...]}}`, read from the metric points."""
    stmt = select(RunEvent.id, RunEvent.kind, RunEvent.data).where(RunEvent.run_id == run_id)
    if after_id is not None:
        stmt = stmt.where(RunEvent.id > after_id)
    out = []
    for eid, kind, data in session.execute(stmt.order_by(RunEvent.id).limit(limit)):
        if kind == "metrics" and "steps" in data:
            data = {"points": {key: [[step, value] for step, value, _ in metrics_repo.history(
                session, run_id, key, step_min=lo, step_max=hi, limit=MAX_POINTS_PER_EVENT)[0]]
                for key, (lo, hi) in data["steps"].items()}}
        out.append((eid, kind, data))
    return out


def latest_ids(session: Session, run_ids: list[str]) -> dict[str, int]:
    """The newest event id of each of the runs that has events."""
    if not run_ids:
        return {}
    stmt = select(RunEvent.run_id, func.max(RunEvent.id)).where(RunEvent.run_id.in_(run_ids)).group_by(RunEvent.run_id)
    return {run_id: newest for run_id, newest in session.execute(stmt)}


def prune(session: Session, finished_before: datetime) -> int:
    """Delete progress and metrics events of runs finished before `finished_before`; returns how many."""
    done = select(Run.id).where(Run.finished_at < finished_before).scalar_subquery()
    res = session.execute(
        delete(RunEvent).where(RunEvent.kind.in_(("progress", "metrics")), RunEvent.run_id.in_(done))
        .execution_options(synchronize_session=False)
    )
    return res.rowcount or 0
