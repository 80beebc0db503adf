"""Experiments: create (with their runs), get, list with a keyset cursor, cancel, status roll-up."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable, NamedTuple, Optional, Sequence

from sqlalchemy import and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session, selectinload

from persistence.models import FINISHED, Experiment, Run, utcnow
from persistence.repo import events


def new_id() -> str:
    return uuid.uuid4().hex


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def create(session: Session, **fields: Any) -> Experiment:
    """Store an experiment and its runs (seed, params, resolved spec), all `queued`, with no
    idempotency key (tests, benches): `insert_new` with its keywords, which the submit path calls
    with its key."""
    assert "idempotency_key" not in fields
    new = insert_new(session, **fields)
    assert new is not None  # without a key nothing can conflict
    return new.experiment


_KEYED = ("id", "name", "owner", "status", "spec", "spec_hash", "idempotency_key", "created_at")


def _insert_returning(keyed: bool):
    """The experiment's INSERT as one cacheable statement, returning its id and the owner's other
    experiments since `:since` (at most `:cap`), so the submission limit needs no query of its own.

    SQLAlchemy's dialect `insert(...).on_conflict_do_nothing()` has no cache key: it was compiled
    again on every submission (about a tenth of its CPU time). The bound values keep the columns'
    types (JSON, UTCDateTime), on SQLite and Postgres alike. The count leaves the new row out by
    its id: a subquery in RETURNING sees the new row on SQLite and not on Postgres."""
    cols = ", ".join(_KEYED)
    conflict = " ON CONFLICT (owner, idempotency_key) DO NOTHING" if keyed else ""
    recent = ("(SELECT count(*) FROM (SELECT 1 FROM experiments WHERE owner = :owner AND created_at > :since"
              " AND id != :id LIMIT :cap) AS recent)")
    binds = [bindparam(c, type_=Experiment.__table__.c[c].type) for c in _KEYED]
    binds.append(bindparam("since", type_=Experiment.__table__.c.created_at.type))
    return text(f"INSERT INTO experiments ({cols}) VALUES ({', '.join(':' + c for c in _KEYED)}){conflict}"
                f" RETURNING id, {recent}").bindparams(*binds)


_INSERT_KEYED, _INSERT = _insert_returning(True), _insert_returning(False)
_RETURNING_DIALECTS = ("postgresql", "sqlite")
RATE_WINDOW = timedelta(seconds=60)


class Inserted(NamedTuple):
    experiment: Experiment
    # the owner's other experiments in the last RATE_WINDOW, counted up to the `recent_cap` asked
    # for (None: not counted, on a database without INSERT ... RETURNING)
    recent: Optional[int]


def insert_new(
    session: Session,
    *,
    name: str,
    spec: dict[str, Any],
    runs: Sequence[tuple[int, dict[str, Any], dict[str, Any]]],
    owner: str,
    idempotency_key: Optional[str] = None,
    body_hash: Optional[str] = None,
    recent_cap: int = 0,
) -> Optional[Inserted]:
    """`create` in two statements, for the submit path: the experiment row with the idempotency check
    folded in (`INSERT ... ON CONFLICT (owner, idempotency_key) DO NOTHING RETURNING ...`) and the
    owner's other experiments of the last minute counted in it (up to `recent_cap`; for
    `over_rate`), then all its runs in one multi-row INSERT. Returns the new experiment (detached
    objects, every field set) with that count, or None when the owner already used the key (nothing
    was written; read the prior one)."""
    now = utcnow()
    exp = Experiment(id=new_id(), name=name, owner=owner, status="queued", spec=spec,
                     spec_hash=body_hash or spec_hash(spec), idempotency_key=idempotency_key, created_at=now,
                     started_at=None, finished_at=None, error=None)
    row = {c: getattr(exp, c) for c in _KEYED}
    recent = None
    if session.get_bind().dialect.name in _RETURNING_DIALECTS:
        got = session.execute(_INSERT_KEYED if idempotency_key else _INSERT,
                              {**row, "since": now - RATE_WINDOW, "cap": max(0, recent_cap)}).first()
        if got is None:
            return None
        recent = int(got[1])
    else:  # another database: a plain INSERT; a duplicate key raises IntegrityError
        session.execute(Experiment.__table__.insert().values(row))
    rows = [dict(id=new_id(), experiment_id=exp.id, index=i, seed=seed, params=params, spec=run_spec,
                 status="queued", created_at=now, enqueued_at=now, started_at=None, finished_at=None, error=None,
                 summary={}, layer_names=[], epoch=0, epochs=int(run_spec.get("train", {}).get("epochs", 0)),
                 eta_seconds=None, attempts=0, resumes=0, lease_owner=None, heartbeat_at=None,
                 cancel_requested=False, checkpoint_epoch=None, checkpoint_uri=None)
            for i, (seed, params, run_spec) in enumerate(runs)]
    if rows:
        # a Core executemany (one multi-row INSERT): the ORM's bulk INSERT would walk the mapper per row
        session.execute(Run.__table__.insert(), rows)
    exp.runs = [Run(**r) for r in rows]
    return Inserted(exp, recent)


def get(session: Session, experiment_id: str, *, owner: Optional[str] = None) -> Optional[Experiment]:
    """The experiment with its runs; None if unknown or (when `owner` is given) not the owner's."""
    stmt = select(Experiment).options(selectinload(Experiment.runs)).where(Experiment.id == experiment_id)
    if owner is not None:
        stmt = stmt.where(Experiment.owner == owner)
    return session.scalars(stmt).first()


def get_many(session: Session, ids: Iterable[str], *, owner: Optional[str] = None) -> list[Experiment]:
    stmt = select(Experiment).options(selectinload(Experiment.runs)).where(Experiment.id.in_(list(ids)))
    if owner is not None:
        stmt = stmt.where(Experiment.owner == owner)
    return list(session.scalars(stmt))


def by_idempotency_key(session: Session, owner: str, key: str) -> Optional[Experiment]:
    stmt = (
        select(Experiment)
        .options(selectinload(Experiment.runs))
        .where(Experiment.owner == owner, Experiment.idempotency_key == key)
    )
    return session.scalars(stmt).first()


def encode_cursor(created_at: datetime, id_: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on a malformed cursor."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    ts, _, id_ = raw.partition("|")
    if not id_:
        raise ValueError("malformed cursor")
    return datetime.fromisoformat(ts), id_


def list_page(
    session: Session,
    *,
    owner: Optional[str],
    status: Optional[str] = None,
    limit: int = 50,
    cursor: Optional[str] = None,
) -> tuple[list[Experiment], Optional[str]]:
    """Newest first. Keyset on (created_at, id): stable under concurrent inserts."""
    stmt = select(Experiment).options(selectinload(Experiment.runs))
    if owner is not None:
        stmt = stmt.where(Experiment.owner == owner)
    if status is not None:
        stmt = stmt.where(Experiment.status == status)
    if cursor:
        ts, id_ = decode_cursor(cursor)
        stmt = stmt.where(
            or_(Experiment.created_at < ts, and_(Experiment.created_at == ts, Experiment.id < id_))
        )
    stmt = stmt.order_by(Experiment.created_at.desc(), Experiment.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def request_cancel(session: Session, exp: Experiment) -> list[str]:
    """Cancel the whole experiment. Queued runs become `cancelled` at once; running ones
    `cancelling` (the worker stops them at its next step boundary); finished runs keep their
    status but are marked too, so `roll_up` knows the experiment, not single runs, was cancelled.
    Returns ids of the runs changed. Cancelling twice changes nothing."""
    now = utcnow()
    changed = [run.id for run in exp.runs if _cancel(session, run, now)]
    for run in exp.runs:
        run.cancel_requested = True
    session.flush()
    roll_up(session, exp)
    return changed


def request_cancel_run(session: Session, run: Run) -> bool:
    """`request_cancel` for one run of an experiment (the others go on); whether it changed."""
    changed = _cancel(session, run, utcnow())
    session.flush()
    roll_up(session, run.experiment)
    return changed


def _cancel(session: Session, run: Run, now: datetime) -> bool:
    if run.status == "queued":
        run.status, run.finished_at, run.cancel_requested = "cancelled", now, True
        run.eta_seconds = None
    elif run.status == "running":
        run.status, run.cancel_requested = "cancelling", True
        run.eta_seconds = None
    else:
        return False
    events.append(session, run.id, "status", {"status": run.status})
    return True


def experiment_status(runs: Sequence[Any]) -> str:
    """The experiment's status from its runs (each with `status` and `cancel_requested`).

    A cancel of the whole experiment marks every run (`request_cancel`); a cancel of single runs
    marks only those. While any run is unfinished: `cancelling` after a whole-experiment cancel,
    else `running` once any run started or ended, else `queued`. When every run has finished: any
    failed -> `failed`; every run cancelled, or a whole-experiment cancel stopped one -> `cancelled`;
    otherwise (every run that was not cancelled succeeded) -> `succeeded`."""
    statuses = [r.status for r in runs]
    whole = bool(runs) and all(r.cancel_requested for r in runs)
    if not statuses:
        return "queued"
    if all(s in FINISHED for s in statuses):
        if "failed" in statuses:
            return "failed"
        if all(s == "cancelled" for s in statuses) or (whole and "cancelled" in statuses):
            return "cancelled"
        return "succeeded"
    if whole:
        return "cancelling"
    return "queued" if all(s == "queued" for s in statuses) else "running"


def roll_up(session: Session, exp: Experiment, runs: Optional[Sequence[Any]] = None) -> None:
    """Recompute the experiment's status and times from its runs (`runs`: rows with the run
    columns read here, in run order; the loaded `exp.runs` when not given)."""
    runs = exp.runs if runs is None else runs
    exp.status = experiment_status(runs)
    if exp.status in FINISHED:
        failed = [r for r in runs if r.status == "failed"]
        if failed:
            exp.error = f"{len(failed)} of {len(runs)} runs failed; first: {failed[0].error}"
        exp.finished_at = exp.finished_at or max((r.finished_at for r in runs if r.finished_at),
                                                 default=utcnow())
    starts = [r.started_at for r in runs if r.started_at]
    if starts and exp.started_at is None:
        exp.started_at = min(starts)


def roll_up_id(session: Session, experiment_id: str) -> None:
    """`roll_up` reading only the five run columns it needs (not every run's spec and summary:
    a 200-run sweep's roll-up after each run was most of a short run's finish)."""
    exp = session.get(Experiment, experiment_id)
    if exp is not None:
        session.flush()
        runs = session.execute(
            select(Run.status, Run.error, Run.finished_at, Run.cancel_requested, Run.started_at)
            .where(Run.experiment_id == experiment_id).order_by(Run.index)
        ).all()
        roll_up(session, exp, runs)


def mark_started(session: Session, experiment_id: str, now: datetime) -> None:
    """A run of the experiment was just claimed: what `roll_up` would then compute, in one UPDATE.
    A queued experiment has only queued runs and no cancel request (cancelling finishes its queued
    runs at once), so it becomes running; any other status stays; `started_at` is the first claim."""
    session.execute(
        update(Experiment).where(Experiment.id == experiment_id)
        .values(status=case((Experiment.status == "queued", "running"), else_=Experiment.status),
                started_at=func.coalesce(Experiment.started_at, now))
        .execution_options(synchronize_session=False)
    )


def over_rate(session: Session, owner: str, per_minute: int, now: datetime,
              recent: Optional[int] = None) -> Optional[float]:
    """The submission limit, counted from the experiments table, so every API process and every
    restart sees the same count (one index range scan on (owner, created_at)). Call it after the
    new experiment is inserted, in its transaction; `recent`: the owner's other experiments in the
    window as `insert_new` counted them (with `recent_cap=per_minute`), which spares the count when
    the new one fits. Returns None when the new one is within `per_minute` in the last 60 s, else
    the seconds until one more would be (roll back then). Concurrent submissions that have not
    committed do not see each other: the limit can be exceeded by at most the number in flight at
    once."""
    if recent is not None and recent + 1 <= per_minute:
        return None
    window = (Experiment.owner == owner, Experiment.created_at > now - RATE_WINDOW)
    # count at most per_minute + 1 rows: an owner far over the limit costs no more than one at it
    capped = select(Experiment.id).where(*window).limit(per_minute + 1).subquery()
    n = session.scalar(select(func.count()).select_from(capped)) or 0
    if n <= per_minute:
        return None
    # one more fits once at most per_minute - 1 committed ones are left in the window: wait for the
    # per_minute-th newest committed one to leave it (offset per_minute: our own row is the newest)
    oldest = session.scalar(select(Experiment.created_at).where(*window)
                            .order_by(Experiment.created_at.desc(), Experiment.id.desc())
                            .offset(per_minute).limit(1))
    if oldest is None:
        return 1.0
    return max(0.001, (oldest - now).total_seconds() + 60)
