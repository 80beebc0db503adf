"""The Celery app as both sides see it: built from settings, no tasks, no torch.

The API sends tasks by name (`TASK_RUN`) after its transaction commits; the worker includes
`worker.tasks` by string. `TASK_FIGURES` draws the figures an experiment lacks (the training
curves' PNG/SVG of its runs, figures of stored probe results, the sweep chart once every run has
finished); the worker sends it when a run is finished (for its probe figures' images, and the
chart after an experiment's last run), the API when a page or a download asks for a figure not
drawn yet (`send_figures`). It writes what it draws to the object
store and the artifacts table; nothing else draws. Delivery: acks_late + reject_on_worker_lost + prefetch 1, and a Redis
visibility timeout longer than any run. The run table (lease + heartbeat), not the broker, is the
source of truth: see `persistence.repo.runs.claim` and the sweeper.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from celery import Celery

from persistence import fsbroker, redisbroker
from persistence.settings import Settings

log = logging.getLogger("skipcore.queue")

TASK_RUN = "skipcore.run"
TASK_FIGURES = "skipcore.figures"
QUEUE = "skipcore"
FIGURE_RUNS = 24  # runs whose figures an experiment's report shows, and the figure task draws by default


def experiment_figures_key(experiment_id: str) -> str:
    """The object store key of an experiment's own figures (a JSON document the figure task writes:
    `{"sweep_svg": str | null, "metric": str | null}`), drawn once every run has finished."""
    return f"experiments/{experiment_id}/figures.json"


def send_run(celery: Any, run_id: str) -> None:
    """Publish the task that trains `run_id` (raises when the broker is down). The message goes by
    the default exchange straight to the queue the workers consume and declare, so the publish
    declares nothing itself, and its argument's log form is given, not computed."""
    celery.send_task(TASK_RUN, args=[run_id], queue=QUEUE, declare=[], argsrepr=repr([run_id]), kwargsrepr="{}")


def send_figures(celery: Any, experiment_id: str, run_ids: Optional[Sequence[str]] = None,
                 training: bool = True) -> bool:
    """Ask a worker to draw what `experiment_id` lacks (of `run_ids`, or of the runs its report
    shows; without their training curves when `training` is false). Drawing twice stores the same
    bytes again, so a repeated request is harmless. Returns whether the message was sent; a broker
    that is down is logged, never raised."""
    try:
        celery.send_task(TASK_FIGURES, args=[experiment_id, list(run_ids) if run_ids is not None else None],
                         kwargs={} if training else {"training": False}, queue=QUEUE)
        return True
    except Exception:  # noqa: BLE001 - a figure request never fails the caller
        log.exception("could not ask for the figures of experiment %s", experiment_id)
        return False


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
    if str(settings.broker_url).startswith("filesystem"):
        app.conf.broker_transport = fsbroker.TRANSPORT  # messages renamed into place whole
    elif str(settings.broker_url).startswith("redis://"):
        app.conf.broker_transport = redisbroker.TRANSPORT  # one Redis client per channel, not per publish
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        # the (disabled) result backend holds no state; unless told it is thread-safe Celery builds
        # one per thread, on that thread's first send_task (an entry-point scan, ~15 ms alone, far
        # more when several new threads do it at once), and the API's request threads come and go
        result_backend_thread_safe=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_pool_limit=10,
    )
    return app
