"""Scale out: 200 tiny runs through Redis + Postgres with 1, 2 and 4 worker processes.

One experiment, a sweep of 200 learning rates (so no two runs are seed siblings: the worker's
seed ensembles stay out of it), each run one epoch of a 2-layer telescope MLP on 64 points. Wall
time from the POST to the last `finished_at`; runs/s; and per run, from the database timestamps:
queue wait (`started_at - enqueued_at`), run body (`finished_at - started_at`: the worker's
claim, model/data build, training, writes, finish), and the orchestration gap per run
(`workers * wall / runs - body`: broker delivery, Celery's prefork hand-off, the claim's
round trips). Loopback only, bounded. Seed ensembles are switched off (SKIPCORE_ENSEMBLE_MAX=1)
so each run is its own task.

    python bench/fanout.py [--runs 200] [--workers 1,2,4] [--breakdown]
Target: >= 50 runs/s with 4 workers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._service import service, tiny_spec  # noqa: E402


def run_once(workers: int, runs: int) -> dict:
    lrs = [round(1e-3 * (1 + i / runs), 8) for i in range(runs)]
    spec = tiny_spec("fanout")
    spec["sweep"] = {"train.lr": lrs}
    with service("redis", workers=workers, concurrency=1, extra_env={"SKIPCORE_ENSEMBLE_MAX": "1"}) as svc:
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            # warm every worker process (imports, first DB connection) before the clock starts
            warm = c.post("/v1/experiments", json={**tiny_spec("warm"), "sweep": {"train.lr": lrs[: 2 * workers]}})
            warm.raise_for_status()
            _wait(svc, warm.json()["id"], 2 * workers, 120)
            t0 = time.time()
            r = c.post("/v1/experiments", json=spec)
            r.raise_for_status()
            post_s = time.time() - t0
            exp_id = r.json()["id"]
        _wait(svc, exp_id, runs, 600)
        rows = svc.sql(
            "SELECT extract(epoch FROM enqueued_at), extract(epoch FROM started_at), extract(epoch FROM finished_at),"
            " status FROM runs WHERE experiment_id = %s", (exp_id,))
    enq = [float(a) for a, _, _, _ in rows]
    start = [float(b) for _, b, _, _ in rows]
    fin = [float(c) for _, _, c, _ in rows]
    bad = [s for *_, s in rows if s != "succeeded"]
    wall = max(fin) - t0
    body = [f - s for s, f in zip(start, fin)]
    wait = [s - e for e, s in zip(enq, start)]
    return {"workers": workers, "runs": len(rows), "failed": len(bad), "wall": wall, "runs_s": len(rows) / wall,
            "post_s": post_s, "body_ms": statistics.median(body) * 1e3, "wait_ms": statistics.median(wait) * 1e3,
            "per_run_ms": workers * wall / len(rows) * 1e3}


def _wait(svc, exp_id: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (done,) = svc.sql("SELECT count(*) FROM runs WHERE experiment_id = %s AND status IN "
                          "('succeeded', 'failed', 'cancelled')", (exp_id,))[0]
        if done >= n:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done}/{n} runs finished in {timeout:.0f} s (logs in {svc.home})")
        time.sleep(0.2)


def breakdown(n: int = 10) -> dict[str, float]:
    """Where a tiny run's body goes: the worker's own functions timed in this process (wrapped,
    not changed) on a throwaway Postgres database, n runs one after another, median ms each."""
    import contextlib
    import uuid
    from collections import defaultdict

    import psycopg
    import torch

    import skipcore.train.loop as loop
    import worker.execute as wx
    import worker.figures as wf
    from bench._common import tempdir, worker_context
    from persistence.db import session_scope
    from persistence.repo import experiments as exp_repo
    from persistence.repo import runs as run_repo
    from skipcore.spec import ExperimentSpec
    from worker.reporter import DbReporter

    torch.set_num_threads(1)
    times: dict[str, list[float]] = defaultdict(list)

    def timed(owner, name, label):
        fn = getattr(owner, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[label].append(time.perf_counter() - t)
        setattr(owner, name, wrapper)

    for owner, name, label in [(wx, "prepare", "prepare (load spec, data, model)"), (loop, "fit", "fit (training)"),
                               (DbReporter, "checkpoint", "checkpoint call (flush + snapshot; 1 per tiny run, in fit)"), (DbReporter, "flush", "metric flushes"),
                               (wf, "training_figure", "training figure (vega; png+svg on demand)")]:
        timed(owner, name, label)
    db = f"skipcore_fanout_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{db}"')
    try:
        with tempdir() as tmp:
            ctx = worker_context(Path(tmp), f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}")
            spec = ExperimentSpec.model_validate({**tiny_spec("bd"), "sweep": {"train.lr": [1e-3 * (i + 1) for i in range(n + 1)]}})
            with session_scope(ctx.sessions) as s:
                exp = exp_repo.create(s, name="bd", spec=spec.model_dump(mode="json"), owner="bench",
                                      runs=[(p.seed, p.params, p.run_spec()) for p in spec.expand()],
                                      body_hash="h")
                ids = [r.id for r in exp.runs]
            for i, rid in enumerate(ids):
                t = time.perf_counter()
                with session_scope(ctx.sessions) as s:
                    run_repo.claim(s, rid, ctx.worker_id, lease_seconds=60, max_attempts=3)
                t1 = time.perf_counter()
                out = wx.execute(ctx, rid)
                t2 = time.perf_counter()
                with session_scope(ctx.sessions) as s:
                    run_repo.finish(s, rid, out.status, worker=ctx.worker_id, summary=out.summary)
                t3 = time.perf_counter()
                if i == 0:  # warm-up
                    times.clear()
                    continue
                times["claim"].append(t1 - t)
                times["finish"].append(t3 - t2)
                times["execute (all)"].append(t2 - t1)
            ctx.engine.dispose()
    finally:
        with contextlib.suppress(Exception):
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
            admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        admin.close()
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of a run body in-process")
    args = ap.parse_args()
    if args.breakdown:
        for label, ms in breakdown().items():
            print(f"  {label:36s} {ms:8.1f} ms (median of 10)", flush=True)
    for w in (int(x) for x in args.workers.split(",")):
        r = run_once(w, args.runs)
        print(f"workers {w}: {r['runs']} runs ({r['failed']} not succeeded) in {r['wall']:.1f} s = "
              f"{r['runs_s']:.1f} runs/s; POST of the sweep {r['post_s'] * 1e3:.0f} ms; per run median: "
              f"body {r['body_ms']:.0f} ms, queue wait {r['wait_ms']:.0f} ms; worker-time per run "
              f"{r['per_run_ms']:.0f} ms (gap over body {r['per_run_ms'] - r['body_ms']:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
