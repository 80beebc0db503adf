"""What an API process does once, before its first request, so that the first submissions are not
the slow ones: the result backend, and the broker connections and queue declaration of as many
producers as submissions can publish at once (a concurrent first `send_task` otherwise opens its
producer's connection and declares in the request: 100-200 ms each when 8 arrive together), a few
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


def warm_broker(celery, n: int = 8) -> None:
    """Build the (shared) result backend and open `n` pooled producers, each connected, with the
    queue declared and a Redis connection in its channel: concurrent first submissions each take a
    producer of their own from the pool, and one warmed producer left the others to connect then."""
    from kombu.common import maybe_declare

    held = []
    try:
        celery.backend  # noqa: B018 - built here, once per app (result_backend_thread_safe), not in a request
        for _ in range(min(n, celery.conf.broker_pool_limit or n)):
            producer = celery.producer_pool.acquire(block=True, timeout=1)
            held.append(producer)
            producer.connection.ensure_connection(max_retries=1)
            maybe_declare(celery.amqp.queues[QUEUE], producer.channel, retry=False)
            client = getattr(producer.channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()  # a connection in the channel's pool, as a publish would open
    except Exception as exc:  # noqa: BLE001 - the first submission connects (or the sweeper resends)
        log.warning("broker not reachable at start-up (%s); the first submission will connect", exc)
    finally:
        for producer in held:
            producer.release()


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
