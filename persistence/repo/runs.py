"""Runs: the lease that makes the database, not the broker, the source of truth.

A worker `claim`s a run with one conditional UPDATE (atomic on SQLite and Postgres): it succeeds
only if the run is queued, or running under a lease whose heartbeat has expired. A delivery of a
run that is finished, or held under a fresh lease, exits without work. `sweep` requeues runs whose
heartbeat expired (a worker killed whole) up to `max_attempts`, then fails them with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from persistence.models import FINISHED, Run, utcnow
from persistence.repo import events
from persistence.repo.experiments import mark_started, roll_up_id


@dataclass
class Claim:
    run: Optional[Run]
    reason: str  # claimed | finished | leased | cancelled | exhausted | unknown


def get(session: Session, run_id: str) -> Optional[Run]:
    return session.get(Run, run_id)


def claim(session: Session, run_id: str, worker: str, *, lease_seconds: float, max_attempts: int) -> Claim:
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    # one UPDATE ... RETURNING takes the lease and hands back the row (no read after it)
    run = session.scalars(
        update(Run)
        .where(
            Run.id == run_id,
            Run.cancel_requested.is_(False),
            Run.attempts < max_attempts,
            or_(
                Run.status == "queued",
                and_(Run.status == "running", or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < stale)),
            ),
        )
        .values(
            status="running",
            lease_owner=worker,
            heartbeat_at=now,
            attempts=Run.attempts + 1,
            started_at=func.coalesce(Run.started_at, now),
        )
        .returning(Run)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).first()
    if run is not None:
        events.append(session, run.id, "status", {"status": "running", "attempt": run.attempts})
        mark_started(session, run.experiment_id, now)
        return Claim(run, "claimed")
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        return Claim(None, "unknown")
    if run.status in FINISHED:
        return Claim(run, "finished")
    if run.cancel_requested:
        _finish(session, run, "cancelled", None)
        return Claim(run, "cancelled")
    if run.attempts >= max_attempts and run.status in ("queued", "running"):
        _finish(session, run, "failed", f"gave up after {run.attempts} attempts (worker lost each time)")
        return Claim(run, "exhausted")
    return Claim(run, "leased")


def heartbeat(session: Session, run_id: str, worker: str) -> Optional[bool]:
    """Renew the lease. Returns whether cancel was requested, or None if the lease was lost."""
    res = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.lease_owner == worker, Run.status.in_(("running", "cancelling")))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        return None
    return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def progress(
    session: Session, run_id: str, *, epoch: int, epochs: int, eta_seconds: Optional[float], worker: str
) -> bool:
    """Record progress (it renews the lease too). Returns whether cancel was requested, so a cancel
    is seen at the next metric flush, not only at the next heartbeat."""
    cancel = session.scalar(
        update(Run)
        .where(Run.id == run_id, Run.lease_owner == worker)
        .values(epoch=epoch, epochs=epochs, eta_seconds=eta_seconds, heartbeat_at=utcnow())
        .returning(Run.cancel_requested)
        .execution_options(synchronize_session=False)
    )
    events.append(
        session,
        run_id,
        "progress",
        {"epoch": epoch, "epochs": epochs, "fraction": epoch / epochs if epochs else None, "eta_seconds": eta_seconds},
    )
    return bool(cancel)


def set_checkpoint(session: Session, run_id: str, epoch: int, uri: str) -> None:
    session.execute(
        update(Run).where(Run.id == run_id).values(checkpoint_epoch=epoch, checkpoint_uri=uri)
        .execution_options(synchronize_session=False)
    )


def note_resume(session: Session, run_id: str) -> None:
    session.execute(
        update(Run).where(Run.id == run_id).values(resumes=Run.resumes + 1).execution_options(synchronize_session=False)
    )


def set_layer_names(session: Session, run_id: str, names: list[str]) -> None:
    session.execute(
        update(Run).where(Run.id == run_id).values(layer_names=names).execution_options(synchronize_session=False)
    )


def finish(
    session: Session,
    run_id: str,
    status: str,
    *,
    worker: Optional[str] = None,
    error: Optional[str] = None,
    summary: Optional[dict[str, Any]] = None,
) -> bool:
    """End a run (only its lease holder may, when `worker` is given). Returns whether it did.
    One conditional UPDATE ... RETURNING, the status event, and the experiment's roll-up."""
    values: dict[str, Any] = dict(status=status, error=error, finished_at=utcnow(), lease_owner=None)
    if summary is not None:
        values["summary"] = summary
    if status == "succeeded":
        values["epoch"] = case((Run.epochs > 0, Run.epochs), else_=Run.epoch)
        values["eta_seconds"] = case((Run.epochs > 0, 0.0), else_=Run.eta_seconds)
    else:  # a cancelled or failed run will not finish: it has no time left
        values["eta_seconds"] = None
    stmt = update(Run).where(Run.id == run_id, Run.status.not_in(sorted(FINISHED)))
    if worker is not None:
        stmt = stmt.where(Run.lease_owner == worker)
    row = session.execute(
        stmt.values(**values).returning(Run.experiment_id).execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return False
    events.append(session, run_id, "status", {"status": status, "error": error})
    session.flush()
    roll_up_id(session, row.experiment_id)
    return True


def _finish(session: Session, run: Run, status: str, error: Optional[str]) -> None:
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    run.lease_owner = None
    if status == "succeeded" and run.epochs:
        run.epoch, run.eta_seconds = run.epochs, 0.0
    elif status != "succeeded":
        run.eta_seconds = None
    events.append(session, run.id, "status", {"status": status, "error": error})
    session.flush()
    roll_up_id(session, run.experiment_id)


def sweep(
    session: Session, *, lease_seconds: float, max_attempts: int, requeue_after: float
) -> tuple[list[str], list[str]]:
    """Find runs whose worker died (heartbeat older than the lease) and queued runs whose message
    may be lost (sent longer ago than `requeue_after`). Returns (run ids to send again, failed
    ids). Each change is a conditional UPDATE, so two sweeps at once (two processes) cannot both
    act on a run: a queued run is sent again at most once per `requeue_after`. Sending a run twice
    would still be harmless: `claim` lets only one delivery work."""
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    resend, failed = [], []
    dead = session.execute(
        select(Run.id, Run.experiment_id, Run.cancel_requested, Run.attempts)
        .where(Run.status.in_(("running", "cancelling")), Run.heartbeat_at < stale)
    ).all()
    still_dead = (Run.status.in_(("running", "cancelling")), Run.heartbeat_at < stale)
    for run in dead:
        if run.cancel_requested:
            _end_dead(session, run.id, still_dead, "cancelled", None)
        elif run.attempts >= max_attempts:
            why = f"worker lost {run.attempts} times (no heartbeat for {lease_seconds:.0f}s); gave up"
            if _end_dead(session, run.id, still_dead, "failed", why):
                failed.append(run.id)
        elif _changed(session, update(Run).where(Run.id == run.id, *still_dead)
                      .values(status="queued", lease_owner=None, enqueued_at=now)):
            events.append(session, run.id, "status", {"status": "queued", "reason": "worker lost; requeued"})
            resend.append(run.id)
    old = now - timedelta(seconds=requeue_after)
    resend += session.scalars(
        update(Run).where(Run.status == "queued", Run.enqueued_at < old).values(enqueued_at=now)
        .returning(Run.id).execution_options(synchronize_session=False)
    ).all()
    session.flush()
    for exp_id in {r.experiment_id for r in dead}:
        roll_up_id(session, exp_id)
    return resend, failed


def _changed(session: Session, stmt) -> bool:
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1


def _end_dead(session: Session, run_id: str, still_dead: tuple, status: str, error: Optional[str]) -> bool:
    """Finish a run whose worker died, if it is still so (no other sweep or worker got there)."""
    if not _changed(session, update(Run).where(Run.id == run_id, *still_dead)
                    .values(status=status, error=error, finished_at=utcnow(), lease_owner=None)):
        return False
    events.append(session, run_id, "status", {"status": status, "error": error})
    return True


def by_status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Run.status, func.count()).group_by(Run.status)).all()
    return {s: n for s, n in rows}


def oldest_queued(session: Session) -> Optional[datetime]:
    """When the longest-waiting queued run was created (None when none waits)."""
    return session.scalar(select(func.min(Run.created_at)).where(Run.status == "queued"))


def recent_durations(session: Session, limit: int = 1000) -> list[tuple[str, float]]:
    """(status, seconds from start to finish) of the last `limit` finished runs."""
    rows = session.execute(
        select(Run.status, Run.started_at, Run.finished_at)
        .where(Run.finished_at.is_not(None), Run.started_at.is_not(None))
        .order_by(Run.finished_at.desc()).limit(limit)
    ).all()
    return [(status, (end - start).total_seconds()) for status, start, end in rows]


def seedless_key(spec: dict[str, Any]) -> str:
    """A run's resolved spec without its seed: runs with equal keys differ only by seed."""
    return json.dumps({k: v for k, v in spec.items() if k != "seeds"}, sort_keys=True, separators=(",", ":"))


def claim_siblings(session: Session, run_id: str, worker: str, *, limit: int, max_attempts: int) -> list[str]:
    """Claim (lease) up to `limit` still-queued runs of `run_id`'s experiment whose spec differs
    from its only by the seed, so one worker trains them together (a seed ensemble). Rows are
    taken with `FOR UPDATE SKIP LOCKED` on Postgres and each claimed with a conditional UPDATE,
    so a sibling's own delivery (or another worker) finds it leased and exits without work. Runs
    that would resume from a checkpoint are left to their own delivery."""
    run = session.get(Run, run_id)
    if run is None or limit < 1:
        return []
    key, now = seedless_key(run.spec), utcnow()
    rows = session.scalars(
        select(Run)
        .where(Run.experiment_id == run.experiment_id, Run.id != run.id, Run.status == "queued",
               Run.cancel_requested.is_(False), Run.attempts < max_attempts, Run.checkpoint_uri.is_(None))
        .order_by(Run.index)
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[str] = []
    for other in rows:
        if len(claimed) >= limit:
            break
        if seedless_key(other.spec) != key:
            continue
        res = session.execute(
            update(Run)
            .where(Run.id == other.id, Run.status == "queued", Run.cancel_requested.is_(False))
            .values(status="running", lease_owner=worker, heartbeat_at=now, attempts=Run.attempts + 1,
                    started_at=func.coalesce(Run.started_at, now))
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:
            events.append(session, other.id, "status", {"status": "running", "attempt": other.attempts + 1,
                                                        "ensemble_with": run_id})
            claimed.append(other.id)
    if claimed:
        session.flush()
        roll_up_id(session, run.experiment_id)
    return claimed
