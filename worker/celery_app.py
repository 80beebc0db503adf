"""The worker's Celery app: built from settings, tasks included by string (Celery's proj/celery.py)."""

from __future__ import annotations

from persistence.queue import make_celery
from persistence.settings import get_settings

app = make_celery(get_settings(), include=["worker.tasks"])
