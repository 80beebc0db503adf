"""A real skipcore service for the HTTP benches: API (uvicorn) + N Celery worker processes, on a
throwaway database (SQLite in a temp home, or a Postgres database dropped afterwards) and the
embedded filesystem broker or a Redis db. Loopback only; every process is started in its own
session and stopped by its process group; the Redis db is flushed of our queue at the end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("SKIPCORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SKIPCORE_TEST_REDIS", "redis://127.0.0.1:6379")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    url: str
    db_url: str
    home: Path
    env: dict
    procs: list = field(default_factory=list)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """A read of the service's database (plain DBAPI: sqlite3 or psycopg)."""
        if self.db_url.startswith("sqlite"):
            import sqlite3

            with sqlite3.connect(self.db_url.split("///", 1)[1]) as c:
                return c.execute(query.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.db_url.replace("+psycopg", "")) as c:
            return c.execute(query, params).fetchall()


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"service did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def service(profile: str, *, workers: int = 1, concurrency: int = 1, api_workers: int = 2,
            redis_db: int = 13, extra_env: Optional[dict] = None) -> Iterator[Service]:
    """profile "embedded": `skipcore serve` (SQLite, filesystem broker, one worker of `concurrency`
    processes); "redis": Postgres + Redis, `skipcore api --workers api_workers` and `workers`
    separate `skipcore worker --concurrency concurrency` processes."""
    home = Path(tempfile.mkdtemp(prefix="skipcore-svc-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env.update(SKIPCORE_HOME=str(home), SKIPCORE_REQUIRE_AUTH="false", PYTHONPATH=str(ROOT),
               SKIPCORE_SUBMISSIONS_PER_MINUTE="1000000", **(extra_env or {}))
    cli = [sys.executable, "-m", "cli.main"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db, admin = None, None
    procs: list[subprocess.Popen] = []
    ok = False
    try:
        if profile == "embedded":
            db_url = f"sqlite:///{home}/skipcore.db"
            env.update(SKIPCORE_DATABASE_URL=db_url)
            cmds = [cli + ["serve", "--port", str(port), "--concurrency", str(concurrency)]]
        else:
            import psycopg

            db = f"skipcore_svc_{uuid.uuid4().hex[:10]}"
            admin = psycopg.connect(PG_ADMIN, autocommit=True)
            admin.execute(f'CREATE DATABASE "{db}"')
            db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
            env.update(SKIPCORE_PROFILE="production", SKIPCORE_DATABASE_URL=db_url,
                       SKIPCORE_BROKER_URL=f"{REDIS}/{redis_db}", SKIPCORE_WORKER_CONCURRENCY=str(concurrency))
            subprocess.run(cli + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
            cmds = [cli + ["api", "--port", str(port), "--workers", str(api_workers)]]
            cmds += [cli + ["worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"]] * workers
        for i, cmd in enumerate(cmds):
            log = open(home / f"proc{i}.log", "wb")
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        wait_healthy(url, procs[0], home / "proc0.log")
        yield Service(url, db_url, home, env, procs)
        ok = True
    finally:
        for p in reversed(procs):
            _stop(p)
        if profile != "embedded":
            import redis

            r = redis.Redis.from_url(f"{REDIS}/{redis_db}")
            r.delete("skipcore", "_kombu.binding.skipcore", "unacked", "unacked_index")
        if admin is not None:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
            admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
            admin.close()
        if ok:  # on a failure the logs stay for reading
            shutil.rmtree(home, ignore_errors=True)


def tiny_spec(name: str = "tiny", **train) -> dict:
    """One epoch of a 2-layer telescope MLP on 64 sine points: next to no training."""
    return {
        "name": name,
        "model": {"family": "telescope_mlp", "depth": 2, "width": 8},
        "data": {"name": "sine", "n_train": 64, "n_val": 32},
        "train": {"optimizer": "adam", "lr": 0.01, "epochs": 1, "batch_size": 64, **train},
        "probes": [],
        "seeds": [0],
    }
