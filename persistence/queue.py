"""The Celery app as both sides see it: built from settings, no tasks, no torch.

The API sends tasks by name (`TASK_RUN`) after its transaction commits; the worker includes
`worker.tasks` by string. Delivery: acks_late + reject_on_worker_lost + prefetch 1, and a Redis
visibility timeout longer than any run. The run table (lease + heartbeat), not the broker, is the
source of truth: see `persistence.repo.runs.claim` and the sweeper.
"""

from __future__ import annotations

from celery import Celery

from persistence.settings import Settings

TASK_RUN = "skipcore.run"
QUEUE = "skipcore"


def broker_options(settings: Settings) -> dict:
    url = str(settings.broker_url)
    if url.startswith("filesystem"):
        folders = {name: settings.broker_dir / name for name in ("out", "processed", "control")}
        for path in folders.values():
            path.mkdir(parents=True, exist_ok=True)
        return {
            # One folder serves as both in and out: producers write, the worker reads.
            "data_folder_in": str(folders["out"]),
            "data_folder_out": str(folders["out"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": settings.broker_polling_interval,
        }
    if url.startswith(("redis", "rediss")):
        return {"visibility_timeout": settings.visibility_timeout, "polling_interval": settings.broker_polling_interval}
    return {}


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    app = Celery("skipcore", broker=str(settings.broker_url), include=include or [])
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_pool_limit=10,
    )
    return app
