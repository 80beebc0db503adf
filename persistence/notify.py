"""Wake-ups for the run event log: whoever appends `run_events` says which runs got new events,
so the SSE streams need not poll the table.

- `mark(session, run_id)`: called by `persistence.repo.events` for every appended event. At the
  session's commit, on Postgres, one `pg_notify(CHANNEL, run_id)` per run in the same transaction
  (delivered to listeners only if and when it commits; rolled back, nothing is sent); after the
  commit, the callbacks registered in this process (`on_commit`) are told the run ids (the API's
  own writes, e.g. a cancel, wake its streams at once on any database).
- `listen(url, on_runs, on_state)`: a Postgres `LISTEN CHANNEL` loop (one connection per API
  process), reconnecting with back-off; `on_state` says when it listens and when it lost the
  connection (notifications sent while it was down are lost: the streams must re-read).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable, Iterable

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger("skipcore.notify")

CHANNEL = "skipcore_run_events"
_PENDING = "notify_runs"

_callbacks: list[Callable[[set[str]], None]] = []
_callbacks_lock = threading.Lock()


def mark(session: Session, run_id: str) -> None:
    """Say at the commit of `session` that `run_id` has new events."""
    session.info.setdefault(_PENDING, set()).add(run_id)


def on_commit(callback: Callable[[set[str]], None]) -> Callable[[], None]:
    """Call `callback(run_ids)` after every commit in this process that appended events (from the
    committing thread); returns the function that unregisters it."""
    with _callbacks_lock:
        _callbacks.append(callback)

    def remove() -> None:
        with _callbacks_lock:
            if callback in _callbacks:
                _callbacks.remove(callback)

    return remove


@event.listens_for(Session, "before_commit")
def _send(session: Session) -> None:
    runs = session.info.get(_PENDING)
    if not runs:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, r) FROM unnest(CAST(:runs AS text[])) AS r"),
                        {"channel": CHANNEL, "runs": sorted(runs)})


@event.listens_for(Session, "after_commit")
def _tell(session: Session) -> None:
    runs = session.info.pop(_PENDING, None)
    if not runs:
        return
    with _callbacks_lock:
        callbacks = list(_callbacks)
    for cb in callbacks:
        try:
            cb(set(runs))
        except Exception:  # noqa: BLE001 - a listener's failure never fails the writer's commit
            log.exception("event callback failed")


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy Postgres URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(database_url: str, on_runs: Callable[[Iterable[str]], None],
                 on_state: Callable[[bool], None], *, max_backoff: float = 5.0) -> None:
    """LISTEN until cancelled: `on_runs(run_ids)` for each notification; `on_state(True)` once
    listening (after every reconnect), `on_state(False)` when the connection is lost."""
    import psycopg

    backoff = 0.2
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo(database_url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                backoff = 0.2
                on_state(True)
                async for note in conn.notifies():
                    on_runs((note.payload,))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database went away: reconnect
            log.warning("event listener lost its connection (%s); reconnecting in %.1fs", exc, backoff)
        on_state(False)
        await asyncio.sleep(backoff)
        backoff = min(max_backoff, backoff * 2)
