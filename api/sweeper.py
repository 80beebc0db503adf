"""The sweeper: one per deployment, whatever the number of API processes.

Every API process ticks every `sweep_interval_seconds`; only the leader (`persistence.leader`:
a Postgres advisory lock, or this process on SQLite) sweeps. A sweep requeues runs whose worker
died and sends again queued runs whose message may be lost, each run at most once per
`requeue_after` (`persistence.repo.runs.sweep` claims each resend with a conditional UPDATE), and
deletes the progress and metrics events of runs finished longer than the event retention ago.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from functools import partial

from starlette.concurrency import run_in_threadpool

from api.state import AppState
from persistence.db import session_scope
from persistence.leader import Leadership
from persistence.models import utcnow
from persistence.queue import send_run
from persistence.repo import events
from persistence.repo import runs as run_repo

log = logging.getLogger("skipcore.api")


def sweep_once(state: AppState, *, judge_leases: bool = True) -> tuple[list[str], list[str]]:
    """Requeue runs whose worker died and resend queued runs whose message may be lost.
    `judge_leases=False` leaves running runs alone (just after a database outage, see `run`)."""
    s = state.settings
    with session_scope(state.sessions) as session:
        resend, failed = run_repo.sweep(
            session, lease_seconds=s.lease_seconds if judge_leases else 1e9, max_attempts=s.max_attempts,
            requeue_after=s.requeue_after,
        )
        events.prune(session, utcnow() - timedelta(seconds=s.event_retention_seconds))
    for run_id in resend:
        try:
            send_run(state.celery, run_id)
        except Exception:  # noqa: BLE001
            log.exception("sweeper could not send run %s", run_id)
    if resend or failed:
        log.info("sweeper: resent %d runs, failed %d", len(resend), len(failed))
    return resend, failed


def _tick(state: AppState, leadership: Leadership, judge_leases: bool) -> bool:
    """One tick: sweep if this process leads. Returns whether it swept."""
    if not leadership.lead():
        return False
    sweep_once(state, judge_leases=judge_leases)
    return True


async def run(state: AppState) -> None:
    """Tick every `sweep_interval_seconds`. For one lease after this process starts sweeping, or
    after its database comes back, leases are not judged: heartbeats could not be written while
    the database was down, so they all look stale, and the workers need a heartbeat interval to
    renew them (else a Postgres restart longer than the lease would requeue every healthy run)."""
    leadership = Leadership(state.engine)
    back_since = None  # since when this process has swept without a failure
    try:
        while True:
            await asyncio.sleep(state.settings.sweep_interval_seconds)
            judge = back_since is not None and time.monotonic() - back_since >= state.settings.lease_seconds
            try:
                swept = await run_in_threadpool(partial(_tick, state, leadership, judge))
            except Exception:  # noqa: BLE001 - the database may be down; try again next time
                log.warning("sweeper pass failed", exc_info=True)
                back_since = None
                continue
            if not swept:
                back_since = None
            elif back_since is None:
                back_since = time.monotonic()
    finally:
        await run_in_threadpool(leadership.release)
