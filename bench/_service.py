"""A real skipcore service for the HTTP benches: API (uvicorn) + N Celery worker processes, on a
throwaway database (SQLite in a temp home, or a Postgres database dropped afterwards) and the
embedded filesystem broker or a Redis db. Loopback only; every process is started in its own
session and stopped by its process group (`servicekit`); the Redis db is flushed of our queue at
the end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import servicekit

PG_ADMIN = os.environ.get("SKIPCORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SKIPCORE_TEST_REDIS", "redis://127.0.0.1:6379")


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


@contextmanager
def service(profile: str, *, workers: int = 1, concurrency: Optional[int] = 1, api_workers: int = 2,
            redis_db: int = 13, extra_env: Optional[dict] = None) -> Iterator[Service]:
    """profile "embedded": `skipcore serve` (SQLite, filesystem broker, one worker of `concurrency`
    processes); "redis": Postgres + Redis, `skipcore api --workers api_workers` and `workers`
    separate `skipcore worker --concurrency concurrency` processes. `concurrency` None: the
    service's own default (SKIPCORE_WORKER_CONCURRENCY=auto, no --concurrency)."""
    home = Path(tempfile.mkdtemp(prefix="skipcore-svc-"))
    env = servicekit.service_env(home, require_auth="false", submissions_per_minute="1000000")
    if concurrency is None:
        env["SKIPCORE_WORKER_CONCURRENCY"] = "auto"
    conc_arg = [] if concurrency is None else ["--concurrency", str(concurrency)]
    env.update(extra_env or {})
    port = servicekit.free_port()
    url = f"http://127.0.0.1:{port}"
    db, admin = None, None
    procs: list[subprocess.Popen] = []
    ok = False
    try:
        if profile == "embedded":
            db_url = f"sqlite:///{home}/skipcore.db"
            env.update(SKIPCORE_DATABASE_URL=db_url)
            cmds = [servicekit.CLI + ["serve", "--port", str(port), *conc_arg]]
        else:
            import psycopg

            db = f"skipcore_svc_{uuid.uuid4().hex[:10]}"
            admin = psycopg.connect(PG_ADMIN, autocommit=True)
            admin.execute(f'CREATE DATABASE "{db}"')
            db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
            env.update(SKIPCORE_PROFILE="production", SKIPCORE_DATABASE_URL=db_url,
                       SKIPCORE_BROKER_URL=f"{REDIS}/{redis_db}")
            subprocess.run(servicekit.CLI + ["db", "upgrade"], env=env, cwd=servicekit.ROOT, check=True,
                           capture_output=True)
            cmds = [servicekit.CLI + ["api", "--port", str(port), "--workers", str(api_workers)]]
            cmds += [servicekit.CLI + ["worker", *conc_arg, "--loglevel", "WARNING"]] * workers
        logs = [home / f"proc{i}.log" for i in range(len(cmds))]
        procs = [servicekit.spawn(cmd, env, log) for cmd, log in zip(cmds, logs)]
        servicekit.wait_healthy(url, procs, logs)
        yield Service(url, db_url, home, env, procs)
        ok = True
    finally:
        for p in reversed(procs):
            servicekit.stop(p, sig=signal.SIGINT if profile == "embedded" else signal.SIGTERM)
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


def wait_ended(client, path: str, timeout: float, poll: float) -> dict:
    """GET `path` (a run or an experiment) every `poll` seconds until it has ended; its JSON."""
    deadline = time.monotonic() + timeout
    while (doc := client.get(path).json())["status"] not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} still {doc['status']} after {timeout:g} s")
        time.sleep(poll)
    return doc
