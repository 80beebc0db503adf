"""Engine and the one session context manager (commit, roll back, close).

SQLite gets foreign_keys=ON, a busy timeout and WAL, as MLflow's managed session maker does.
Postgres connections are pinged (`SELECT 1`) on checkout only when they sat idle in the pool for
`PING_IDLE_SECONDS` or more, not on every checkout as `pool_pre_ping` does: a busy pool saves one
round trip a request, and a connection that outlived a database restart is still replaced before
use (a restart shorter than that window costs one request a 503, and the pool is then renewed).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _ping_when_idle(engine)
    return engine


PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - the pool drops it and checks out a fresh one
            raise DisconnectionError(f"stale connection: {exc}") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def end_session(session: Session, ok: bool) -> None:
    """How every session ends: committed when its work went through (`ok`), else rolled back; then
    closed (its connection back to the pool)."""
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    ok = False
    try:
        yield session
        ok = True
    finally:
        end_session(session, ok)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
