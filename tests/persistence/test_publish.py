"""Publishing a run on the Redis broker: the message a worker reads (the run task, the run's id as
its one argument, on the skipcore queue), sent through one Redis client for every publish (kombu's
own transport builds a client, with its table of response callbacks, for each one)."""

from __future__ import annotations

import base64
import json

import redis

from persistence.queue import QUEUE, TASK_RUN, make_celery, send_run
from persistence.settings import Settings


def test_runs_are_published_to_the_queue_through_one_redis_client(tmp_path, redis_url, monkeypatch):
    celery = make_celery(Settings(home=tmp_path, broker_url=redis_url))
    plain = redis.Redis.from_url(redis_url)
    plain.delete(QUEUE)
    made = []
    init = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    ids = [f"run-{i}" for i in range(10)]
    send_run(celery, ids[0])  # the first connects the producer's channel (and builds its clients)
    monkeypatch.setattr(redis.Redis, "__init__", counted)
    try:
        for run_id in ids[1:]:
            send_run(celery, run_id)
    finally:
        monkeypatch.undo()
        celery.close()
    assert made == [], f"{len(made)} Redis clients built for {len(ids) - 1} publishes"
    got = []
    while (raw := plain.rpop(QUEUE)) is not None:  # kombu pushes left and the worker pops right
        message = json.loads(raw)
        assert message["headers"]["task"] == TASK_RUN and message["properties"]["delivery_info"]["routing_key"] == QUEUE
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {} and message["headers"]["argsrepr"] == repr(args)
        got.extend(args)
    assert got == ids
