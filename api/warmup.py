"""What an API process does once, before its first request, so that the first submissions are not
the slow ones: the broker connection and queue declaration (the first `send_task` of a process
otherwise pays for the producer pool, the connection and the declare: hundreds of ms), a few
database connections opened into the pool (it opens them lazily, one per concurrent request), then
`gc.freeze()`, which moves the objects of start-up (modules, the app, the schemas) out of the
collector's generations, so a full collection during a request walks only what requests made.
A broker that is down does not stop the start: the first submission then connects itself, as before.
"""

from __future__ import annotations

import gc
import logging

from persistence.queue import QUEUE

log = logging.getLogger("skipcore.api")


def warm_broker(celery) -> None:
    from kombu.common import maybe_declare

    try:
        with celery.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
            maybe_declare(celery.amqp.queues[QUEUE], producer.channel, retry=False)
            client = getattr(producer.channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()  # a connection in the channel's pool, as a publish would open
    except Exception as exc:  # noqa: BLE001 - the first submission connects (or the sweeper resends)
        log.warning("broker not reachable at start-up (%s); the first submission will connect", exc)


def fill_pool(engine, n: int = 8) -> None:
    """Open up to `n` pooled connections (fewer than the pool keeps) and return them to the pool."""
    if engine.dialect.name == "sqlite":
        return
    held = []
    try:
        for _ in range(min(n, engine.pool.size())):
            held.append(engine.connect())
    except Exception as exc:  # noqa: BLE001 - the database is checked by /healthz; requests connect themselves
        log.warning("could not open database connections at start-up (%s)", exc)
    finally:
        for conn in held:
            conn.close()


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
