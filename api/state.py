"""What the app holds for its lifetime: settings, engine, sessions, object store, Celery producer."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence.settings import Settings


class RateLimiter:
    """Sliding one-minute window of submissions per owner (per API process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, owner: str) -> float | None:
        """Record a hit; returns seconds to wait when over the limit (the hit is then not counted)."""
        now = time.monotonic()
        with self._lock:
            q = self._hits[owner]
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(0.001, q[0] + 60 - now)
            q.append(now)
            return None


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Any
    celery: Any
    limiter: RateLimiter
    extras: dict[str, Any] = field(default_factory=dict)
