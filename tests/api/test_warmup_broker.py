"""What the first submissions of an API process would otherwise pay for in the request: the
result backend (Celery builds one per thread unless it is told it is thread-safe, and the API's
request threads come and go) and one broker connection per concurrent publish (a publish takes a
producer of its own from the pool)."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from api import warmup
from persistence.queue import make_celery
from persistence.settings import Settings


def _backend_seen_by_a_new_thread(celery):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(celery.backend))
    thread.start()
    thread.join(timeout=30)
    return seen[0]


def test_every_request_thread_shares_one_result_backend(tmp_path, redis_url):
    celery = make_celery(Settings(home=tmp_path, broker_url=redis_url))
    first = celery.backend
    assert _backend_seen_by_a_new_thread(celery) is first
    assert _backend_seen_by_a_new_thread(celery) is first


def test_broker_warm_up_connects_a_producer_for_each_concurrent_submission(tmp_path, redis_url):
    celery = make_celery(Settings(home=tmp_path, broker_url=redis_url))
    warmup.warm_broker(celery)  # 8 by default, as many as the pool fill opens database connections
    with ExitStack() as held:
        producers = [held.enter_context(celery.producer_or_acquire()) for _ in range(8)]
        assert len({id(p) for p in producers}) == 8
        assert [p.connection.connected for p in producers] == [True] * 8
