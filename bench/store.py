"""Metric storage at the repository layer: ingest through `persistence.repo.metrics.upsert_points`
in the worker's batch sizes (one transaction per flush, as DbReporter does), then a full read of a
10^5-point history (`history(limit=10^5)`) and a `downsample(max_points=1000)` read, on SQLite
(temp dir) and Postgres (a throwaway database, dropped at the end). Loopback only, bounded.

    .venv/bin/python bench/store.py [--points 100000] [--batches 1000,20000] [--reads 5] [--api]
Targets: ingest >= 100,000 points/s into Postgres; full 10^5 read < 300 ms; downsampled < 30 ms.
`--api`: the same reads over HTTP. POST p50/p99 and req/s: bench/load.py; dispatch latency:
bench/dispatch.py; MLflow beside it: bench/anchor_mlflow.sh.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import new_run, tempdir, worker_context
from persistence.db import session_scope
from persistence.repo import metrics

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def bench_db(ctx, label: str, n_points: int, batches: list[int], reads: int) -> None:
    for batch in batches:
        run_id = new_run(ctx.sessions)
        now = time.time()
        t0 = time.perf_counter()
        for start in range(0, n_points, batch):
            pts = [("train_loss", s, 1.0 / (s + 1), now) for s in range(start, min(n_points, start + batch))]
            with session_scope(ctx.sessions) as s:
                metrics.upsert_points(s, run_id, pts)
        dt = time.perf_counter() - t0
        print(f"{label:8s} ingest batch {batch:>6}: {n_points / dt:>10,.0f} points/s ({dt:.2f} s for {n_points:,})")
    full, down, zoom = [], [], []
    for _ in range(reads):
        with session_scope(ctx.sessions) as s:
            t0 = time.perf_counter()
            pts, _ = metrics.history(s, run_id, "train_loss", limit=n_points)
            full.append(time.perf_counter() - t0)
            assert len(pts) == n_points
            t0 = time.perf_counter()
            metrics.downsample(s, run_id, "train_loss", 1000)
            down.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            metrics.downsample(s, run_id, "train_loss", 1000, step_min=n_points // 4 + 7, step_max=3 * n_points // 4)
            zoom.append(time.perf_counter() - t0)
    print(f"{label:8s} full read of {n_points:,}: median {statistics.median(full)*1e3:.0f} ms "
          f"(min {min(full)*1e3:.0f}, max {max(full)*1e3:.0f}); downsample 1000: median "
          f"{statistics.median(down)*1e3:.1f} ms (min {min(down)*1e3:.1f}, max {max(down)*1e3:.1f}); "
          f"the middle half, step-bounded: median {statistics.median(zoom)*1e3:.1f} ms")


def bench_api(n_points: int, reads: int) -> None:
    """The same reads over HTTP: a real `skipcore api --workers 2` (uvicorn, uvloop/httptools) on a
    throwaway Postgres database, 10^5 points of one run written through `upsert_points`."""
    import httpx

    from bench._service import service, tiny_spec

    with service("redis", workers=0) as svc, tempdir() as tmp:
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            r = c.post("/v1/experiments", json=tiny_spec("store-api"))
            r.raise_for_status()
            run_id = r.json()["runs"][0]["id"]
            ctx = worker_context(Path(tmp), svc.db_url)
            now = time.time()
            for start in range(0, n_points, 20_000):  # one time stamp per 100 steps, as epochs flush
                pts = [("train_loss", s, 1.0 / (s + 1), now + s // 100) for s in range(start, min(n_points, start + 20_000))]
                with session_scope(ctx.sessions) as s:
                    metrics.upsert_points(s, run_id, pts)
            ctx.engine.dispose()
            url = f"/v1/runs/{run_id}/metrics/train_loss"
            for label, params, enc in [("full, identity", {}, "identity"), ("full, gzip", {}, "gzip"),
                                       ("full, columns", {"format": "columns"}, "identity"),
                                       ("max_points=1000", {"max_points": 1000}, "gzip"),
                                       ("max_points, columns", {"max_points": 1000, "format": "columns"}, "gzip")]:
                ts, size = [], 0
                for _ in range(reads + 1):
                    t0 = time.perf_counter()
                    with c.stream("GET", url, params=params, headers={"Accept-Encoding": enc}) as resp:
                        size = sum(len(b) for b in resp.iter_raw())
                    ts.append(time.perf_counter() - t0)
                ts = ts[1:]
                print(f"api      GET {label:19s}: median {statistics.median(ts) * 1e3:.1f} ms (min {min(ts) * 1e3:.1f}, "
                      f"max {max(ts) * 1e3:.1f}), {size:,} bytes on the wire", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--batches", default="1000,20000")
    ap.add_argument("--reads", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--api", action="store_true", help="also the reads over HTTP (uvicorn + Postgres)")
    ap.add_argument("--only-api", action="store_true")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if not args.only_api:
        bench_repo(args, batches)
    if args.api or args.only_api:
        bench_api(args.points, args.reads)


def bench_repo(args, batches: list[int]) -> None:
    with tempdir() as tmp:
        ctx = worker_context(Path(tmp))
        bench_db(ctx, "sqlite", args.points, batches, args.reads)
        ctx.engine.dispose()
        if args.no_postgres:
            return
        import psycopg

        name = f"skipcore_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                ctx = worker_context(Path(tmp), f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
                bench_db(ctx, "postgres", args.points, batches, args.reads)
                ctx.engine.dispose()
            finally:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
