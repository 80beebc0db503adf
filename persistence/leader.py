"""Which process of a deployment does a deployment-wide chore (the sweeper): one leader at a time.

Postgres: the holder of a session-level advisory lock (`pg_try_advisory_lock`), taken on a
connection kept for that alone (autocommit, so it never sits idle in a transaction). The lock
lives as long as that connection: a leader that dies or loses its database hands over, and
another process takes the lock at its next try. Every process tries once per tick; the others'
tries are one cheap query that answers false.

SQLite (the embedded profile: one API process beside its worker): this process leads. The
chores themselves are written as conditional UPDATEs, so even two processes on one SQLite file
could not act twice on one row.
"""

from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("skipcore.leader")

SWEEPER_LOCK = 0x736B6970  # an arbitrary, fixed advisory-lock key ("skip")


class Leadership:
    def __init__(self, engine: Engine, key: int = SWEEPER_LOCK) -> None:
        self.engine, self.key = engine, key
        self._conn: Optional[Connection] = None

    @property
    def shared(self) -> bool:
        """Whether other processes can compete (a server database)."""
        return self.engine.dialect.name == "postgresql"

    def lead(self) -> bool:
        """Whether this process leads now: keep the lock if its connection still answers, else try
        to take it. Raises when the database cannot be reached (the caller retries next tick)."""
        if not self.shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - the connection died, and the lock with it
                log.warning("lost the sweeper lock's connection; trying to take the lock again")
                self.release()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("this process now runs the sweeper")
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.close()
        except Exception:  # noqa: BLE001 - a dead connection: drop it (the lock is gone with it)
            conn.invalidate()
            conn.close()
