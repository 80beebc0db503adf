"""Bounded retries with back-off for database writes, so a Postgres restart does not kill a run."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from persistence.db import session_scope

log = logging.getLogger("skipcore.worker")
T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def with_retry(fn: Callable[[], T], *, attempts: int = 10, first_delay: float = 0.25, max_delay: float = 8.0) -> T:
    delay = first_delay
    for i in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            if not transient(exc) or i == attempts:
                raise
            log.warning("database write failed (%s); retry %d/%d in %.2fs", type(exc).__name__, i, attempts, delay)
            time.sleep(delay)
            delay = min(max_delay, delay * 2)
    raise AssertionError("unreachable")


def in_session(sessions: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
    """`fn(session)` in a transaction of its own, retried (`with_retry`) through a database restart."""
    def go() -> T:
        with session_scope(sessions) as s:
            return fn(s)

    return with_retry(go)
