"""An experiment's status follows from its runs, over HTTP on SQLite and Postgres.

The worker's side is played by the functions a worker calls (`claim`, `progress`, `finish` in
persistence.repo.runs), so each step is one the real worker takes; the end-to-end version with a
Celery worker is in tests/worker/test_run_outcomes.py.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.repo import runs as run_repo
from tests.factories import make_spec

WORKER = "test-worker"


@contextmanager
def worker_session(settings):
    engine = make_engine(str(settings.database_url))
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            yield s
    finally:
        engine.dispose()


def start(settings, run_id: str, epoch: int = 1, eta: float = 30.0) -> None:
    with worker_session(settings) as s:
        assert run_repo.claim(s, run_id, WORKER, lease_seconds=60, max_attempts=3).reason == "claimed"
        run_repo.progress(s, run_id, epoch=epoch, epochs=3, eta_seconds=eta, worker=WORKER)


def finish(settings, run_id: str, status: str, error: str | None = None) -> None:
    with worker_session(settings) as s:
        assert run_repo.finish(s, run_id, status, worker=WORKER, error=error)


def counts(**nonzero: int) -> dict[str, int]:
    base = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelling", "cancelled"), 0)
    return {**base, **nonzero}


def submit(client, n: int = 3) -> tuple[str, list[str]]:
    exp = client.post("/v1/experiments", json=make_spec(seeds=list(range(n)))).json()
    assert exp["run_counts"] == counts(queued=n)
    return exp["id"], [r["id"] for r in exp["runs"]]


def get(client, exp_id: str) -> dict:
    return client.get(f"/v1/experiments/{exp_id}").json()


def test_cancelling_one_running_run_leaves_the_experiment_running_and_it_ends_succeeded(client, settings):
    exp_id, (a, b, c) = submit(client)
    for rid in (a, b, c):
        start(settings, rid)
    r = client.post(f"/v1/runs/{a}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelling"
    assert r.json()["progress"]["eta_seconds"] is None  # it will not train to the end
    now = get(client, exp_id)
    assert now["status"] == "running", now
    assert now["run_counts"] == counts(running=2, cancelling=1)

    finish(settings, a, "cancelled")
    finish(settings, b, "succeeded")
    assert get(client, exp_id)["status"] == "running"
    finish(settings, c, "succeeded")
    done = get(client, exp_id)
    assert done["status"] == "succeeded", done
    assert done["run_counts"] == counts(succeeded=2, cancelled=1)
    assert done["finished_at"] is not None and done["error"] is None
    cancelled = client.get(f"/v1/runs/{a}").json()
    assert cancelled["status"] == "cancelled" and cancelled["progress"]["eta_seconds"] is None
    assert client.get(f"/v1/runs/{b}").json()["progress"]["eta_seconds"] == 0.0


def test_cancelling_the_last_running_run_alone_does_not_make_the_experiment_cancelling(client, settings):
    exp_id, (a, b) = submit(client, 2)
    start(settings, a)
    start(settings, b)
    finish(settings, a, "succeeded")
    assert client.post(f"/v1/runs/{b}/cancel").json()["status"] == "cancelling"
    assert get(client, exp_id)["status"] == "running"
    finish(settings, b, "cancelled")
    assert get(client, exp_id)["status"] == "succeeded"


def test_every_run_cancelled_one_by_one_makes_the_experiment_cancelled(client):
    exp_id, runs = submit(client, 2)
    for rid in runs:  # queued runs end cancelled at once
        assert client.post(f"/v1/runs/{rid}/cancel").json()["status"] == "cancelled"
    done = get(client, exp_id)
    assert done["status"] == "cancelled" and done["run_counts"] == counts(cancelled=2)


def test_a_failed_run_fails_the_experiment_even_beside_a_cancelled_one(client, settings):
    exp_id, (a, b, c) = submit(client)
    for rid in (a, b, c):
        start(settings, rid)
    client.post(f"/v1/runs/{a}/cancel")
    finish(settings, a, "cancelled")
    finish(settings, b, "failed", error="loss is nan at epoch 2")
    finish(settings, c, "succeeded")
    done = get(client, exp_id)
    assert done["status"] == "failed" and "1 of 3 runs failed" in done["error"]
    assert done["run_counts"] == counts(succeeded=1, failed=1, cancelled=1)
    assert client.get(f"/v1/runs/{b}").json()["progress"]["eta_seconds"] is None


@pytest.mark.parametrize("finished_first", ["succeeded", "none"])
def test_cancelling_the_whole_experiment_is_cancelling_then_cancelled(client, settings, finished_first):
    exp_id, (a, b, c) = submit(client)
    start(settings, a)
    start(settings, b)
    if finished_first == "succeeded":
        finish(settings, a, "succeeded")
    r = client.post(f"/v1/experiments/{exp_id}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelling", r.json()
    finish(settings, b, "cancelled")
    if finished_first == "none":
        finish(settings, a, "cancelled")
    done = get(client, exp_id)
    assert done["status"] == "cancelled", done  # the experiment was cancelled, whatever ran before
    assert done["run_counts"]["cancelled"] == (2 if finished_first == "succeeded" else 3)
    assert client.get(f"/v1/runs/{c}").json()["status"] == "cancelled"
