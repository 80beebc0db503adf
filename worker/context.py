"""Per-process resources of a worker: settings, engine, sessions, object store, identity."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence.db import make_engine, make_sessionmaker
from persistence.objects import make_store
from persistence.settings import Settings, get_settings, usable_cores

log = logging.getLogger("skipcore.worker")


@dataclass
class WorkerContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Any
    worker_id: str


@lru_cache
def get_context() -> WorkerContext:
    settings = get_settings()
    engine = make_engine(str(settings.database_url), pool_size=4)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return WorkerContext(settings, engine, make_sessionmaker(engine), make_store(settings), worker_id)


def configure_threads(concurrency: int) -> int:
    """One torch thread per share of the cores: small MLPs run faster on one thread than two."""
    import torch

    cores = usable_cores()
    n = max(1, cores // max(1, concurrency))
    torch.set_num_threads(n)
    log.info("torch uses %d thread(s) per worker process (%d cores / concurrency %d)", n, cores, concurrency)
    return n
