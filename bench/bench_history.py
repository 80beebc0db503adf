"""Metric-history reads over HTTP: a 10^6-point history of one (run, key), on SQLite and Postgres.

Builds the history through `persistence.repo.metrics.upsert_points`, starts the API in process
(FastAPI TestClient: the full ASGI stack, JSON encoding included; no network), then times
  - a full read: every page of `GET /v1/runs/{id}/metrics/{key}` at the default page size,
  - a downsampled read: `?max_points=1000`,
and prints p50/p99 per backend. Postgres uses a throwaway database, dropped afterwards.

    .venv/bin/python bench/bench_history.py [--points 1000000] [--full-reps 3] [--ds-reps 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def build(url: str, home: Path, n: int) -> str:
    from persistence.db import make_engine, make_sessionmaker, session_scope
    from persistence.repo import experiments as exp_repo
    from persistence.repo import metrics as metrics_repo
    from persistence.schema import upgrade

    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        exp = exp_repo.create(s, name="bench", spec={"name": "bench"}, runs=[(0, {}, {"train": {"epochs": n}})],
                              owner="local")
        run_id = exp.runs[0].id
    t0, chunk, now = time.perf_counter(), 100_000, time.time()
    for start in range(0, n, chunk):
        pts = [("train_loss", i, 1.0 / (1 + i) + (i % 7) * 1e-3, now + i * 1e-3) for i in range(start, min(n, start + chunk))]
        with session_scope(sessions) as s:
            metrics_repo.upsert_points(s, run_id, pts)
    print(f"  built {n:,} points in {time.perf_counter() - t0:.1f}s", flush=True)
    engine.dispose()
    return run_id


def measure(url: str, home: Path, run_id: str, n: int, full_reps: int, ds_reps: int, budget: float) -> dict:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from persistence.settings import Settings

    settings = Settings(home=home, database_url=url)
    path = f"/v1/runs/{run_id}/metrics/train_loss"
    out: dict = {}
    with TestClient(create_app(settings, sweeper=False)) as c:
        def full() -> int:
            got, cursor, pages = 0, None, 0
            while True:
                r = c.get(path, params={"cursor": cursor} if cursor else {})
                r.raise_for_status()
                body = r.json()
                got, pages, cursor = got + len(body["points"]), pages + 1, body["next_cursor"]
                if not cursor:
                    assert got == n, (got, n)
                    return pages

        def ds() -> None:
            r = c.get(path, params={"max_points": 1000})
            r.raise_for_status()
            assert 2 <= len(r.json()["points"]) <= 1000

        ds()  # burn in (connections, caches)
        deadline = time.monotonic() + budget
        times = []
        for _ in range(ds_reps):
            t = time.perf_counter()
            ds()
            times.append(time.perf_counter() - t)
        out["max_points=1000"] = times
        times = []
        for i in range(full_reps):
            t = time.perf_counter()
            out["pages"] = full()
            times.append(time.perf_counter() - t)
            if time.monotonic() > deadline and i >= 1:
                break
        out["full read"] = times
    return out


def report(name: str, res: dict) -> None:
    for what in ("full read", "max_points=1000"):
        xs = res[what]
        print(f"  {name:8s} {what:16s} p50 {pct(xs, .5) * 1e3:9.1f} ms   p99 {pct(xs, .99) * 1e3:9.1f} ms   "
              f"(n={len(xs)}{', ' + str(res['pages']) + ' pages' if what == 'full read' else ''})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--full-reps", type=int, default=2)
    ap.add_argument("--ds-reps", type=int, default=10)
    ap.add_argument("--budget", type=float, default=25.0, help="seconds of timing per backend (soft)")
    args = ap.parse_args()

    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print(f"history of {args.points:,} points, one (run, key); API in process (TestClient)")
        print("SQLite:", flush=True)
        url = f"sqlite:///{home / 'bench.db'}"
        report("sqlite", measure(url, home, build(url, home, args.points), args.points, args.full_reps,
                                 args.ds_reps, args.budget))

        name = f"skipcore_bench_{uuid.uuid4().hex[:10]}"
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            print("Postgres:", flush=True)
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            report("postgres", measure(url, home, build(url, home, args.points), args.points, args.full_reps,
                                       args.ds_reps, args.budget))
        finally:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.close()


if __name__ == "__main__":
    main()
