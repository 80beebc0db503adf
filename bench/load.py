"""Load test: N POSTs /v1/experiments from C concurrent clients, each with its own Idempotency-Key,
against a real `skipcore api --workers 2` (uvicorn) on a throwaway Postgres database with the Redis
broker. Loopback only, bounded. Prints errors (must be 0), p50/p99 latency, requests/s, and checks
that exactly N experiments exist. No worker runs: this measures the submit path.

Method: every client opens its connection (GET /healthz) before the clock starts, and the clients
connect only once every API worker has started (one that is still starting accepts nothing, and
keep-alive connections stay where they landed). `--warmup K`: each client first sends K
submissions of its own outside the timed window, as load-testing tools warm up; the default 0
times each client's first submission too. `--mlflow URL` runs the same clients, with the same
method, against an MLflow tracking server's runs/create instead (started by the caller, e.g.
`bench/anchor_mlflow.sh --load`).

    python bench/load.py [--requests 1000] [--clients 16] [--warmup 0] [--redis-db 12] [--get /healthz]
    python bench/load.py --mlflow http://127.0.0.1:5055 [--requests 1000] [--clients 8] [--warmup 0]
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


def wait_all_started(log: Path, workers: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count("Application startup complete.") < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"not every API worker started within {timeout:.0f} s; see {log}")
        time.sleep(0.05)


def skipcore_call(spec: dict):
    def call(c: httpx.Client, key: str) -> httpx.Response:
        return c.post("/v1/experiments", json=spec, headers={"Idempotency-Key": key})

    return call, "/healthz", 201


def mlflow_call(url: str):
    name = f"load-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30)
    r.raise_for_status()
    exp = r.json()["experiment_id"]

    def call(c: httpx.Client, key: str) -> httpx.Response:
        return c.post("/api/2.0/mlflow/runs/create",
                      json={"experiment_id": exp, "start_time": int(time.time() * 1000), "run_name": key})

    return call, "/health", 200


def drive(url: str, call, ping: str, ok_status: int, args) -> dict:
    """C clients take request indexes from one counter until N are sent; returns what they saw."""
    seen: dict = {"lat": [], "timeline": [], "errors": [], "rest": []}
    lock = threading.Lock()
    counter = iter(range(args.requests))
    barrier = threading.Barrier(args.clients + 1)

    def client_loop(client: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            c.get(ping)  # connect before the clock starts
            for j in range(args.warmup):
                r = call(c, f"warmup-{client}-{j}")
                if r.status_code != ok_status:
                    with lock:
                        seen["errors"].append(f"warm-up {r.status_code} {r.text[:100]}")
            barrier.wait()
            k = 0
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    r = c.get(args.get) if args.get else call(c, f"load-{i}")
                    want = 200 if args.get else ok_status
                    err = None if r.status_code == want else f"{r.status_code} {r.text[:100]}"
                except httpx.HTTPError as exc:
                    err = f"{type(exc).__name__}: {exc}"
                dt = time.perf_counter() - t0
                with lock:
                    seen["lat"].append(dt)
                    seen["timeline"].append((t0, dt, i, k))
                    if k >= 2:
                        seen["rest"].append(dt)
                    if err:
                        seen["errors"].append(err)
                k += 1

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seen["wall"] = time.perf_counter() - t0
    return seen


def report(seen: dict, what: str, args) -> None:
    lat = sorted(seen["lat"])
    q = statistics.quantiles(lat, n=100)
    errors = seen["errors"]
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} load average "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"requests {len(lat)} from {args.clients} clients (warm-up {args.warmup} each) against {what}, "
          f"{seen['wall']:.2f}s")
    print(f"errors {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms, "
          f"p99/p50 {q[98] / q[49]:.2f}")
    print(f"throughput {len(lat) / seen['wall']:.1f} requests/s")
    slow = sorted(seen["timeline"], key=lambda x: -x[1])[: max(1, len(lat) // 100)]
    origin = min(at for at, *_ in seen["timeline"])
    print("slowest 1%: " + ", ".join(f"{dt * 1000:.0f} ms at {at - origin:.2f}s (#{i}, client's #{k})"
                                     for at, dt, i, k in slow))
    rest = sorted(seen["rest"])
    if len(rest) > 100:
        p99 = statistics.quantiles(rest, n=100)[98]
        print(f"without each client's first two timed requests: p99 {p99 * 1000:.1f} ms, p99/p50 {p99 / q[49]:.2f}")


def main() -> int:
    args = options(requests=1000, clients=16, warmup=(0, "submissions per client before the timed window"),
                   redis_db=12, api_workers=2, get=("", "GET this path instead of POSTing (the HTTP stack's ceiling)"),
                   mlflow=("", "an MLflow tracking server's URL: time its runs/create"))
    if args.mlflow:
        seen = drive(args.mlflow, *mlflow_call(args.mlflow), args)
        report(seen, f"MLflow runs/create at {args.mlflow}", args)
        print("OK" if not seen["errors"] else "FAILED")
        return 0 if not seen["errors"] else 1
    return run_skipcore(args)


def run_skipcore(args) -> int:
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
        wait_all_started(home / "api.log", args.api_workers)
        spec = tiny_spec(name="load")
        call, ping, ok_status = skipcore_call(spec)
        seen = drive(url, call, ping, ok_status, args)

        # a replay of every key answers 200 with the same experiment and makes nothing new
        with httpx.Client(base_url=url, timeout=30) as c:
            replays = {call(c, f"load-{i}").status_code for i in range(0, args.requests, max(1, args.requests // 50))}
        with psycopg.connect(db_url.replace("+psycopg", "")) as conn:
            n = conn.execute("SELECT count(*) FROM experiments WHERE idempotency_key LIKE 'load-%'").fetchone()[0]
            keys = conn.execute("SELECT count(DISTINCT idempotency_key) FROM experiments"
                                " WHERE idempotency_key LIKE 'load-%'").fetchone()[0]
        report(seen, f"{args.api_workers} uvicorn workers (Postgres + Redis)", args)
        print(f"timed experiments in the database {n} (distinct keys {keys}); replays {replays}")
        ok = not seen["errors"] and (bool(args.get) or (n == args.requests == keys and replays == {200}))
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
