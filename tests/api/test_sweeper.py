"""The sweeper (api.sweeper.sweep_once, what the API runs every SKIPCORE_SWEEP_INTERVAL_SECONDS): a run
whose heartbeat is older than the lease is sent again while it has attempts left, failed with the
reason once it has none, cancelled if a cancel was asked; a fresh lease is left alone; a queued run
whose message may be lost is sent again. Real SQLite and the real filesystem broker."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections import Counter
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from api.sweeper import sweep_once
from persistence.db import session_scope
from persistence.models import Run, utcnow
from persistence.queue import QUEUE
from persistence.schema import upgrade
from tests import service
from tests.conftest import free_port
from tests.factories import make_settings, make_spec, queued_messages


def test_sweeper_requeues_dead_runs_caps_attempts_and_leaves_live_leases(home):
    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}", lease_seconds=10, max_attempts=3)
    upgrade(str(settings.database_url))
    app = create_app(settings, sweeper=False)
    state = app.state.skipcore
    with TestClient(app) as client:
        exp = client.post("/v1/experiments", json=make_spec(seeds=[0, 1, 2, 3, 4])).json()
        ids = [r["id"] for r in exp["runs"]]
        for p in queued_messages(settings):
            p.unlink()  # as if a worker had taken every message
        now = utcnow()
        old, fresh = now - timedelta(seconds=60), now - timedelta(seconds=1)
        rows = {  # run -> (status, attempts, heartbeat, cancel requested)
            ids[0]: ("running", 1, old, False),  # worker died, attempts left: back to the queue
            ids[1]: ("running", 3, old, False),  # worker died on its last attempt: failed, with why
            ids[2]: ("running", 1, fresh, False),  # alive: untouched
            ids[3]: ("cancelling", 1, old, True),  # died while cancelling: cancelled
        }
        with session_scope(state.sessions) as s:
            for run_id, (status, attempts, beat, cancel) in rows.items():
                run = s.get(Run, run_id)
                run.status, run.attempts, run.heartbeat_at, run.cancel_requested = status, attempts, beat, cancel
                run.lease_owner, run.started_at = "gone:1:x", old
            s.get(Run, ids[4]).enqueued_at = now - timedelta(seconds=3600)  # queued, its message maybe lost

        resend, failed = sweep_once(state)
        assert sorted(resend) == sorted([ids[0], ids[4]]) and failed == [ids[1]]
        assert len(queued_messages(settings)) == 2  # one message each, on the real broker

        got = {r["id"]: r for r in client.get(f"/v1/experiments/{exp['id']}").json()["runs"]}
        assert got[ids[0]]["status"] == "queued"
        assert got[ids[1]]["status"] == "failed" and "worker lost 3 times" in got[ids[1]]["error"]
        assert got[ids[2]]["status"] == "running"
        assert got[ids[3]]["status"] == "cancelled"
        assert got[ids[4]]["status"] == "queued"

        assert sweep_once(state) == ([], [])  # a second pass right after finds nothing new


def test_after_a_database_outage_longer_than_the_lease_healthy_runs_are_not_requeued(home, fresh_pg_url, pg_admin):
    """Postgres unreachable for longer than the lease: no heartbeat could be written, so every running
    run looks dead when it comes back. The sweeper waits one lease before judging leases again; the
    worker (here: its heartbeat call, as the worker's thread makes it) renews in time and keeps its
    run. A run nobody renews is still requeued after that lease."""
    import time

    from persistence.repo import runs as run_repo
    from tests.api.test_db_down import _block, _dbname

    settings = make_settings(home, fresh_pg_url, lease_seconds=2, heartbeat_seconds=0.5, sweep_interval_seconds=0.2)
    upgrade(str(settings.database_url))
    app = create_app(settings)  # with its sweeper
    state = app.state.skipcore
    name = _dbname(fresh_pg_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        exp = client.post("/v1/experiments", json=make_spec(seeds=[0, 1])).json()
        alive, dead = [r["id"] for r in exp["runs"]]
        with session_scope(state.sessions) as s:
            for run_id, owner in ((alive, "worker-a"), (dead, "worker-b")):
                claim = run_repo.claim(s, run_id, owner, lease_seconds=2, max_attempts=3)
                assert claim.reason == "claimed"
                stale_at = claim.run.heartbeat_at + timedelta(seconds=settings.lease_seconds + 0.5)
        try:
            _block(pg_admin, name, False)
            deadline = time.monotonic() + 30
            # the outage outlasts the lease: both heartbeats are stale while the API sees it down
            while utcnow() < stale_at or client.get("/healthz").status_code != 503:
                assert time.monotonic() < deadline, "the API never saw its database go"
                time.sleep(0.05)
        finally:
            _block(pg_admin, name, True)
        # worker-a's heartbeat thread beats every 0.5 s and needs a reconnect after the outage; the
        # event waited for: the sweeper judges leases again (it requeues the run nobody renews)
        deadline, next_beat = time.monotonic() + 30, time.monotonic() + 0.8
        while run_status(state, dead) != "queued":
            assert time.monotonic() < deadline, "the sweeper never judged leases again"
            if time.monotonic() >= next_beat:
                next_beat += settings.heartbeat_seconds
                try:
                    with session_scope(state.sessions) as s:
                        assert run_repo.heartbeat(s, alive, "worker-a") is False, "worker-a lost its lease"
                except Exception as exc:  # noqa: BLE001 - a pooled connection the outage killed
                    if "lost its lease" in str(exc):
                        raise
            time.sleep(0.02)
        runs = {r["id"]: r for r in client.get(f"/v1/experiments/{exp['id']}").json()["runs"]}
        assert runs[alive]["status"] == "running" and runs[alive]["attempts"] == 1, runs[alive]
        assert runs[dead]["status"] == "queued", runs[dead]  # nobody renewed it: requeued after the grace


def run_status(state, run_id: str) -> str | None:
    try:
        with session_scope(state.sessions) as s:
            return s.get(Run, run_id).status
    except Exception:  # noqa: BLE001 - a pooled connection the outage killed: ask again
        return None


def _messages_per_run(redis_url: str) -> Counter:
    """Run id -> broker messages waiting for it on the Redis queue (kombu's JSON envelopes)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    out: Counter = Counter()
    for raw in r.lrange(QUEUE, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out[body[0][0]] += 1
    return out


def test_two_api_processes_resend_a_queued_backlog_at_most_once_per_period(home, fresh_pg_url, redis_url):
    """`skipcore api --workers 2` on Postgres + Redis, 300 queued runs and no worker: the sweepers of
    the two processes together send each run again at most once per requeue period."""
    import redis

    period = 2.0
    redis.Redis.from_url(redis_url).delete(QUEUE)  # messages that earlier tests on this Redis database left
    env = service.production_env(home, database_url=fresh_pg_url, broker_url=redis_url,
                                 sweep_interval_seconds="0.05", requeue_after_seconds=str(period),
                                 submissions_per_minute="100000")
    subprocess.run(service.CLI + ["db", "upgrade"], env=env, cwd=service.ROOT, check=True, capture_output=True)
    port = free_port()
    log = home / "api.log"
    api = service._spawn(service.CLI + ["api", "--port", str(port), "--workers", "2"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        service.wait_healthy(url, [api], [log])
        spec = make_spec(seeds=list(range(10)), sweep={"model.width": list(range(4, 34))})
        t0 = time.monotonic()
        r = httpx.post(url + "/v1/experiments", json=spec, timeout=60)
        assert r.status_code == 201, r.text
        runs = [run["id"] for run in r.json()["runs"]]
        assert len(runs) == 300
        # the event: every run was sent again twice (two periods passed), whatever the clock says
        queue = redis.Redis.from_url(redis_url)
        deadline = t0 + 10 * period + 30
        while queue.llen(QUEUE) < 3 * len(runs):
            assert time.monotonic() < deadline, f"{queue.llen(QUEUE)} messages after {time.monotonic() - t0:.1f}s"
            time.sleep(0.05)
        counts = _messages_per_run(redis_url)
        elapsed = time.monotonic() - t0
        allowed = 1 + int(elapsed // period)  # the submit's message, then one per period that passed
        assert set(counts) == set(runs)
        over = {run: n for run, n in counts.items() if n > allowed}
        assert not over, f"{len(over)} runs sent more than {allowed} times in {elapsed:.1f}s: {sorted(over.values())[-5:]}"
        print(f"\n{sum(counts.values())} messages for {len(runs)} runs after {elapsed:.1f}s "
              f"(period {period}s, at most {allowed} each)")
    finally:
        service.stop(api)


def test_one_process_of_a_deployment_leads_the_sweeper_and_another_takes_over_when_it_goes(fresh_pg_url):
    from persistence.db import make_engine
    from persistence.leader import Leadership

    engines = [make_engine(fresh_pg_url) for _ in range(2)]  # two API processes' engines
    first, second = (Leadership(e) for e in engines)
    try:
        assert first.lead() and first.lead()  # keeps it
        assert not second.lead()
        engines[0].dispose()  # the leader's connections die (process gone): its lock with them
        first._conn.invalidate()
        assert second.lead()
        assert not first.lead()
    finally:
        first.release()
        second.release()
        for e in engines:
            e.dispose()
