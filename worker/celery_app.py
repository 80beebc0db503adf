"""The worker's Celery app: built from settings, tasks included by string (Celery's proj/celery.py).

Broker outages (a Redis restart): the worker keeps training what it runs and reconnects by itself.
Long runs are never cancelled because the broker connection dropped (the run table, not the
broker, says who owns a run; a message lost with a restarted Redis is resent by the sweeper), and
the worker keeps retrying the connection instead of exiting after Celery's default 100 tries.
A replacement pool child gets time to start on a busy machine.
"""

from __future__ import annotations

from persistence.queue import make_celery
from persistence.settings import get_settings

app = make_celery(get_settings(), include=["worker.tasks"])
app.conf.update(
    worker_cancel_long_running_tasks_on_connection_loss=False,
    broker_connection_retry=True,
    broker_connection_max_retries=None,  # forever, with kombu's back-off (capped interval)
    # a new pool child (after one was killed) imports torch in worker_process_init: on a loaded
    # machine that takes longer than Celery's 4 s default, which then kills it and tries again, for ever
    worker_proc_alive_timeout=120.0,
)
