"""Service restarts mid-run, on the production profile (real `skipcore api` and `skipcore worker`):

- Redis (the broker) restarted while a run trains: the run finishes, and the worker and the API
  reconnect by themselves (a run submitted after the restart is delivered and succeeds).
- Postgres restarted while a run trains: the worker's writes retry with back-off (worker/retry.py)
  and the run finishes with every epoch recorded exactly once; while the database is down the API
  answers 503, not 500.
- Postgres down when a run is delivered: the claim and the task's first writes retry, and the run
  starts once the database is back (attempt 1, no help from the sweeper).

Both use THROWAWAY servers started here (a redis-server on a free port without persistence; a
Postgres cluster initdb'ed into a temporary folder), never the machine's shared ones.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests import service
from tests.conftest import free_port, wait_port
from tests.factories import long_sine_spec
from tests.worker.test_crash import wait_run

pytestmark = pytest.mark.slow

EPOCHS = 30
SETTINGS = dict(device="cpu", lease_seconds="15", heartbeat_seconds="0.5", sweep_interval_seconds="0.5",
                metric_flush_seconds="0.2", checkpoint_min_seconds="0")  # every checkpoint: the run restarts mid-way
SPEC = long_sine_spec("restart", n_train=256, epochs=EPOCHS, checkpoint_every=5)
FINISHED = ("succeeded", "failed", "cancelled")


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def remove(self) -> None:
        self.stop()


class ThrowawayPostgres:
    """A cluster of its own: initdb into a temporary folder, run as the `postgres` user (initdb refuses root)."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        assert bins, "no Postgres binaries under /usr/lib/postgresql/*/bin"
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="skipcore-pg-"))
        self.user = None if os.geteuid() != 0 else "postgres"
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{tool}: {r.stdout}{r.stderr}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except AssertionError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _started(server: ThrowawayRedis | ThrowawayPostgres):
    server.start()
    yield server
    server.remove()


@pytest.fixture
def throwaway_redis():
    yield from _started(ThrowawayRedis())


@pytest.fixture
def throwaway_pg():
    yield from _started(ThrowawayPostgres())


def _submit(client: httpx.Client, name: str) -> str:
    r = client.post("/v1/experiments", json={**SPEC, "name": name})
    assert r.status_code == 201, r.text
    return r.json()["runs"][0]["id"]


def _check_history(client: httpx.Client, run_id: str) -> None:
    for key in ("train_loss", "val_loss"):
        steps = [p["step"] for p in client.get(f"/v1/runs/{run_id}/metrics/{key}").json()["points"]]
        assert steps == list(range(1, EPOCHS + 1)), (key, steps)  # nothing lost, nothing twice


def test_redis_restart_mid_run_the_run_finishes_and_new_runs_still_flow(home, fresh_pg_url, throwaway_redis):
    settings = dict(database_url=fresh_pg_url, broker_url=throwaway_redis.url, **SETTINGS)
    with service.production(home, **settings) as (url, procs), httpx.Client(base_url=url, timeout=30) as client:
        run_id = _submit(client, "before")
        wait_run(client, run_id, lambda r: r["progress"]["epoch"] >= 3 or r["status"] in FINISHED, timeout=90)
        throwaway_redis.stop()
        t0 = time.monotonic()
        r = client.post("/v1/experiments", json={**SPEC, "name": "while-down"})  # stored; sent by the sweeper later
        post_s = time.monotonic() - t0
        assert r.status_code == 201, r.text
        print(f"\nPOST while Redis is down: {r.status_code} in {post_s:.2f}s")
        time.sleep(max(0.0, 2.0 - post_s))  # the worker's consumer sees the connection drop and starts retrying
        throwaway_redis.start()  # empty: no persistence
        t_back = time.monotonic()
        first = wait_run(client, run_id, lambda r: r["status"] in FINISHED, timeout=120, poll=0.2)
        assert first["status"] == "succeeded", first
        _check_history(client, run_id)

        t_submit = time.monotonic()
        after = _submit(client, "after")  # the API's producer and the worker's consumer reconnected
        wait_run(client, after, lambda r: r["status"] != "queued", timeout=60, poll=0.05)
        dispatch = time.monotonic() - t_submit
        second = wait_run(client, after, lambda r: r["status"] in FINISHED, timeout=120, poll=0.2)
        assert second["status"] == "succeeded", second
        assert all(p.poll() is None for p in procs), "the API and the worker must survive the broker restart"
        worker_log = (home / "worker0.log").read_text()
        assert "Connection to broker lost" in worker_log, "the worker never saw the broker go"
        print(f"\nredis down 2.0 s; first run finished {first['finished_at']}; after the restart a new run was "
              f"picked up {dispatch:.2f}s after its POST ({time.monotonic() - t_back:.1f}s after Redis came back)")


def test_postgres_restart_mid_run_writes_retry_the_run_finishes_and_the_api_says_503(home, throwaway_pg, redis_url):
    settings = dict(database_url=throwaway_pg.url, broker_url=redis_url, **SETTINGS)
    with service.production(home, **settings) as (url, procs), httpx.Client(base_url=url, timeout=30) as client:
        run_id = _submit(client, "pg")
        before = wait_run(client, run_id, lambda r: r["progress"]["epoch"] >= 3 or r["status"] in FINISHED,
                          timeout=90)
        assert before["status"] == "running", before
        progress = before["progress"]  # every running run shows where it is and an ETA
        assert progress["epochs"] == EPOCHS and progress["fraction"] == progress["epoch"] / EPOCHS, progress
        assert progress["eta_seconds"] is not None and progress["eta_seconds"] > 0, progress
        throwaway_pg.stop()
        try:
            for path in ("/healthz", f"/v1/runs/{run_id}", "/v1/experiments"):
                r = client.get(path)
                assert r.status_code == 503, (path, r.status_code, r.text[:300])
            r = client.post("/v1/experiments", json=SPEC)
            assert r.status_code == 503, r.text[:300]
            time.sleep(2.0)  # long enough for the worker's flushes and heartbeats to fail and back off
        finally:
            throwaway_pg.start()
        t_back = time.monotonic()
        stalled = client.get(f"/v1/runs/{run_id}").json()
        moving = wait_run(client, run_id, lambda r: r["progress"]["epoch"] > stalled["progress"]["epoch"]
                          or r["status"] in FINISHED, timeout=60, poll=0.05)
        recovery = time.monotonic() - t_back
        final = wait_run(client, run_id, lambda r: r["status"] in FINISHED, timeout=120, poll=0.2)
        assert final["status"] == "succeeded", final
        assert final["attempts"] == 1, final  # the same worker carried on: no requeue, no resume
        _check_history(client, run_id)
        assert procs[1].poll() is None
        log = (home / "worker0.log").read_text()
        assert "database write failed" in log or "heartbeat for run" in log, "the worker never saw the outage"
        print(f"\npostgres down ~2 s (epoch {stalled['progress']['epoch']}); the run's progress moved again "
              f"{recovery:.2f}s after Postgres came back (moving: {moving['progress']['epoch']})")


def test_a_run_delivered_while_postgres_is_down_is_claimed_once_it_is_back(home, throwaway_pg, redis_url):
    # the sweeper is slowed to 600 s: only the worker's own retries can start this run
    settings = dict(database_url=throwaway_pg.url, broker_url=redis_url,
                    **{**SETTINGS, "sweep_interval_seconds": "600"})
    with service.production(home, workers=0, **settings) as (url, procs), \
            httpx.Client(base_url=url, timeout=30) as client:
        run_id = _submit(client, "delivered-while-down")  # stored and sent; no worker yet
        throwaway_pg.stop()
        worker = service.production_worker(home, 0, **settings)
        try:
            log = home / "worker0.log"
            deadline = time.monotonic() + 120
            while "database write failed" not in (log.read_text() if log.exists() else ""):
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker never met the outage:\n" + log.read_text()[-3000:]
                time.sleep(0.1)
            time.sleep(1.0)  # a retry or two more against the dead database
            throwaway_pg.start()
            t_back = time.monotonic()
            running = wait_run(client, run_id, lambda r: r["status"] != "queued", timeout=60, poll=0.05)
            started = time.monotonic() - t_back
            final = wait_run(client, run_id, lambda r: r["status"] in FINISHED, timeout=120, poll=0.2)
            assert final["status"] == "succeeded", final
            assert final["attempts"] == 1 and final["resumes"] == 0, final
            _check_history(client, run_id)
            print(f"\nrun delivered while Postgres was down: {running['status']} {started:.2f}s after it came back")
        finally:
            service.stop(worker)
