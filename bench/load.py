"""Load test: N POSTs /v1/experiments from C concurrent clients, each with its own Idempotency-Key,
against a real `skipcore api --workers 2` (uvicorn) on a throwaway Postgres database with the Redis
broker. Loopback only, bounded. Prints errors (must be 0), p50/p99 latency, requests/s, and checks
that exactly N experiments exist. No worker runs: this measures the submit path.

    python bench/load.py [--requests 1000] [--clients 16] [--redis-db 12] [--get /healthz]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._cli import options  # noqa: E402
from bench._service import tiny_spec  # noqa: E402
from servicekit import free_port, spawn, stop, wait_healthy  # noqa: E402

PG_ADMIN = os.environ.get("SKIPCORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SKIPCORE_TEST_REDIS", "redis://127.0.0.1:6379")


def main() -> int:
    args = options(requests=1000, clients=16, redis_db=12, api_workers=2,
                   get=("", "GET this path instead of POSTing (the HTTP stack's ceiling)"))

    db = f"skipcore_load_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{db}"')
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    home = Path(tempfile.gettempdir()) / db
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env.update(SKIPCORE_HOME=str(home), SKIPCORE_PROFILE="production", SKIPCORE_REQUIRE_AUTH="false",
               SKIPCORE_DATABASE_URL=db_url, SKIPCORE_BROKER_URL=f"{REDIS}/{args.redis_db}",
               SKIPCORE_SUBMISSIONS_PER_MINUTE="1000000", PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "cli.main"]
    api = None
    try:
        subprocess.run(cli + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        port = free_port()
        api = spawn(cli + ["api", "--port", str(port), "--workers", str(args.api_workers)], env, home / "api.log")
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, [api], [home / "api.log"], timeout=60)

        spec = tiny_spec(name="load")
        latencies: list[float] = []
        timeline: list[tuple[float, float, int]] = []  # (start offset, latency, request index)
        t_start = [0.0]
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.requests))

        def client_loop() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                c.get("/healthz")  # connect before the clock starts
                barrier.wait()
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    t0 = time.perf_counter()
                    started = t0 - t_start[0]
                    try:
                        if args.get:
                            r = c.get(args.get)
                            ok = r.status_code == 200
                        else:
                            r = c.post("/v1/experiments", json=spec, headers={"Idempotency-Key": f"load-{i}"})
                            ok = r.status_code == 201
                        err = None if ok else f"{r.status_code} {r.text[:100]}"
                    except httpx.HTTPError as exc:
                        err = f"{type(exc).__name__}: {exc}"
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        timeline.append((started, dt, i))
                        if err:
                            errors.append(err)

        barrier = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for t in threads:
            t.start()
        t_start[0] = time.perf_counter()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

        # a replay of every key answers 200 with the same experiment and makes nothing new
        with httpx.Client(base_url=url, timeout=30) as c:
            replays = [c.post("/v1/experiments", json=spec, headers={"Idempotency-Key": f"load-{i}"}).status_code
                       for i in range(0, args.requests, max(1, args.requests // 50))]
        with psycopg.connect(db_url.replace("+psycopg", "")) as conn:
            n = conn.execute("SELECT count(*) FROM experiments").fetchone()[0]
            keys = conn.execute("SELECT count(DISTINCT idempotency_key) FROM experiments").fetchone()[0]

        lat = sorted(latencies)
        q = statistics.quantiles(lat, n=100)
        print(f"requests {len(lat)} from {args.clients} clients against {args.api_workers} uvicorn workers "
              f"(Postgres + Redis), {wall:.2f}s")
        print(f"errors {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
        print(f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
        print(f"throughput {len(lat) / wall:.1f} requests/s")
        slow = sorted(timeline, key=lambda x: -x[1])[: max(1, len(lat) // 100)]
        print("slowest 1%: " + ", ".join(f"{dt * 1000:.0f} ms at {at:.2f}s (#{i})" for at, dt, i in slow))
        rest = sorted(dt for at, dt, i in timeline if i >= args.clients * 2)
        if len(rest) > 100:
            print(f"without each client's first two requests: p99 {statistics.quantiles(rest, n=100)[98] * 1000:.1f} ms")
        print(f"experiments in the database {n} (distinct keys {keys}); replays {set(replays)}")
        ok = not errors and (bool(args.get) or (n == args.requests == keys and set(replays) == {200}))
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if api is not None:
            stop(api)
        import redis

        r = redis.Redis.from_url(f"{REDIS}/{args.redis_db}")
        r.delete("skipcore", "_kombu.binding.skipcore")  # the messages we queued (no worker consumed them)
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
        admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        admin.close()


if __name__ == "__main__":
    raise SystemExit(main())
