"""What the app holds for its lifetime: settings, engine, sessions, object store, Celery producer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Any
    celery: Any
    extras: dict[str, Any] = field(default_factory=dict)
