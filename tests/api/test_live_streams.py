"""Many SSE streams on one run, production profile (`skipcore api` on Postgres + Redis, a process of
its own): more streams than the API's database pool all open (a stream holds no pooled connection),
every stream gets every event in order, idle streams cost the database nothing per client,
and a write by another process (as the worker's) reaches the streams through Postgres NOTIFY, not
the API's slow fallback poll. The writes are the worker's repo calls, made from this process."""

from __future__ import annotations

import json
import threading
import time

import httpx
import psycopg

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.repo import events
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo
from tests import service
from tests.factories import make_spec

STREAMS = 40  # more than one API process's database pool (10 + 20 overflow): a stream holds no connection
T0 = 1.7e9


class Reader(threading.Thread):
    """One SSE client: its events until the run's final status event."""

    def __init__(self, url: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id = url, run_id
        self.events: list[tuple[int, str, dict]] = []
        self.first = threading.Event()
        self.done = threading.Event()
        self.done_at = 0.0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60) as c, c.stream("GET", f"/v1/runs/{self.run_id}/events") as r:
                block: dict = {}
                for line in r.iter_lines():
                    self.first.set()  # connected: the stream's `retry:` line
                    if line:
                        name, _, value = line.partition(": ")
                        block[name] = value
                        continue
                    if "id" in block:
                        self.events.append((int(block["id"]), block["event"], json.loads(block["data"])))
                    block = {}
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.done_at = time.monotonic()
            self.first.set()
            self.done.set()


def _commits(db_url: str) -> int:
    with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute("SELECT pg_stat_clear_snapshot()")
        return c.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def test_many_streams_on_one_run_each_get_every_event_woken_by_notify_without_polling_per_client(
        home, fresh_pg_url, redis_url):
    settings = dict(database_url=fresh_pg_url, broker_url=redis_url, sweep_interval_seconds="3600")
    engine = make_engine(fresh_pg_url)
    sessions = make_sessionmaker(engine)
    with service.production(home, workers=0, **settings) as (url, _procs), httpx.Client(base_url=url) as client:
        run_id = client.post("/v1/experiments", json=make_spec()).json()["runs"][0]["id"]
        readers = [Reader(url, run_id) for _ in range(STREAMS)]
        for r in readers:
            r.start()
        for r in readers:
            assert r.first.wait(30) and r.error is None, r.error
        assert all(r.events == [] for r in readers)  # a queued run has no events yet

        # idle streams on a live run: the old per-client poll made 4 transactions a second each
        time.sleep(1.5)  # the statistics of the readers' connects are reported
        before = _commits(fresh_pg_url)
        time.sleep(3.0)
        idle = _commits(fresh_pg_url) - before
        assert idle < STREAMS, f"{idle} commits in 3 s with {STREAMS} idle streams"

        # the worker's writes, from another process than the API's: claim, two flushes, finish
        with session_scope(sessions) as s:
            assert run_repo.claim(s, run_id, "w", lease_seconds=30, max_attempts=3).reason == "claimed"
        for steps in ((1, 2), (3,)):
            points = [("loss", st, 1.0 / st, T0 + st) for st in steps]
            with session_scope(sessions) as s:
                metrics_repo.upsert_points(s, run_id, points)
                run_repo.progress(s, run_id, epoch=steps[-1], epochs=3, eta_seconds=None, worker="w")
                events.append_metrics(s, run_id, points)
        with session_scope(sessions) as s:
            assert run_repo.finish(s, run_id, "succeeded", worker="w")
        finished = time.monotonic()
        for r in readers:
            assert r.done.wait(30) and r.error is None, r.error

        # woken by the notification: well before the API's fallback poll (every 10 s where it
        # listens) would have read the tail
        assert max(r.done_at for r in readers) - finished < 5.0

        whole = [(i, k, d) for i, k, d in _replay(client, run_id)]
        kinds = [k for _, k, _ in whole]
        assert kinds == ["status", "progress", "metrics", "progress", "metrics", "status"], kinds
        assert whole[2][2] == {"points": {"loss": [[1, 1.0], [2, 0.5]]}}
        for r in readers:
            assert r.events == whole  # every stream: every event, once, in order
    engine.dispose()


def _replay(client: httpx.Client, run_id: str) -> list[tuple[int, str, dict]]:
    reader = Reader(str(client.base_url), run_id)
    reader.run()
    assert reader.error is None, reader.error
    return reader.events
