"""Live streams for many dashboards: N concurrent `GET /v1/runs/{id}/events` streams on one running
run, against a real `skipcore api --workers 2` on a throwaway Postgres database (Redis broker). This
process plays the worker: it claims the run, then every `--interval` seconds commits one flush
(metric points + a progress event + a metrics event, as `DbReporter.flush` does), and finally
finishes the run, which ends every stream. Loopback only, bounded (`--seconds` of flushes, a
deadline on every wait), stops by itself.

Prints the database's transactions per second while the streams watch (pg_stat_database
`xact_commit` and `tup_returned` deltas, less this process's own writes), and the event delay
(the flush's commit to each stream's receipt of its progress event) p50/p99, and checks that every
stream received every event exactly once, in order.

    python bench/sse.py [--streams 200] [--seconds 20] [--interval 0.5]
To measure other code (an older commit), run this file from a checkout of it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._cli import options  # noqa: E402
from bench._service import service, tiny_spec  # noqa: E402
from persistence.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from persistence.repo import events  # noqa: E402
from persistence.repo import metrics as metrics_repo  # noqa: E402
from persistence.repo import runs as run_repo  # noqa: E402


def db_counters(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as c:
        return c.execute("SELECT xact_commit, tup_returned FROM pg_stat_database"
                         " WHERE datname = current_database()").fetchone()


async def watch(url: str, run_id: str, received: list, connected: asyncio.Event, counter: list) -> None:
    """One dashboard: (epoch, receipt time) of each progress event, and every event id."""
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120, connect=30)) as c:
        async with c.stream("GET", f"/v1/runs/{run_id}/events") as r:
            r.raise_for_status()
            block: dict = {}
            first = True
            async for line in r.aiter_lines():
                if first:
                    first = False
                    counter[0] += 1
                    if counter[0] == counter[1]:
                        connected.set()
                if line:
                    name, _, value = line.partition(": ")
                    block[name] = value
                    continue
                if "id" in block:
                    data = json.loads(block["data"])
                    received.append((int(block["id"]), block["event"], data.get("epoch"), time.time()))
                    if block["event"] == "status" and data.get("status") == "succeeded":
                        return
                block = {}


def write(sessions, run_id: str, seconds: float, interval: float, commits: dict, go: threading.Event) -> None:
    """The worker's writes: claim, a flush every `interval` seconds, finish."""
    go.wait()
    with session_scope(sessions) as s:
        assert run_repo.claim(s, run_id, "bench", lease_seconds=600, max_attempts=3).reason == "claimed"
    epoch, t_end = 0, time.monotonic() + seconds
    while time.monotonic() < t_end:
        epoch += 1
        points = [(k, epoch, 1.0 / epoch, time.time()) for k in ("train_loss", "val_loss")]
        with session_scope(sessions) as s:
            metrics_repo.upsert_points(s, run_id, points)
            run_repo.progress(s, run_id, epoch=epoch, epochs=10**6, eta_seconds=None, worker="bench")
            events.append_metrics(s, run_id, points)
            commits[epoch] = time.time()  # the commit follows at the end of the block
        time.sleep(max(0.0, interval - (time.time() - commits[epoch])))
    with session_scope(sessions) as s:
        assert run_repo.finish(s, run_id, "succeeded", worker="bench")
    commits["flushes"] = epoch


async def watch_all(url: str, run_id: str, n: int, go: threading.Event, deadline: float) -> list[list]:
    received: list[list] = [[] for _ in range(n)]
    connected = asyncio.Event()
    counter = [0, n]
    tasks = [asyncio.create_task(watch(url, run_id, received[i], connected, counter)) for i in range(n)]
    await asyncio.wait_for(connected.wait(), 60)
    await asyncio.sleep(1.0)  # every stream has read its (empty) replay
    go.set()
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            raise t.exception()
    if pending:
        raise TimeoutError(f"{len(pending)} streams did not end")
    return received


def main() -> int:
    args = options(streams=200, seconds=20.0, interval=0.5, api_workers=2)
    with service("redis", workers=0, api_workers=args.api_workers) as svc:
        r = httpx.post(svc.url + "/v1/experiments", json=tiny_spec("sse"), timeout=30)
        r.raise_for_status()
        run_id = r.json()["runs"][0]["id"]
        engine = make_engine(svc.db_url)
        sessions = make_sessionmaker(engine)
        commits: dict = {}
        go = threading.Event()
        writer = threading.Thread(target=write, args=(sessions, run_id, args.seconds, args.interval, commits, go))
        writer.start()
        box: dict = {}

        def counters_when_go() -> None:
            go.wait()
            box["before"] = (time.monotonic(), *db_counters(svc.db_url))

        threading.Thread(target=counters_when_go, daemon=True).start()
        try:
            received = asyncio.run(watch_all(svc.url, run_id, args.streams, go, args.seconds + 60))
        finally:
            go.set()
            writer.join()
        t1, x1, tup1 = time.monotonic(), *db_counters(svc.db_url)
        engine.dispose()
    t0, x0, tup0 = box["before"]
    flushes = commits["flushes"]
    own = flushes + 2 + 1  # claim, the flushes, finish, and the counter read itself
    delays = sorted(t - commits[epoch] for rec in received for _, kind, epoch, t in rec if kind == "progress")
    ids = [[eid for eid, *_ in rec] for rec in received]
    complete = all(i == ids[0] for i in ids) and ids[0] == sorted(set(ids[0]))
    per_stream = {sum(1 for _, k, *_ in rec if k == "progress") for rec in received}
    q = statistics.quantiles(delays, n=100)
    secs = t1 - t0
    print(f"{args.streams} streams on one run, {flushes} flushes every {args.interval}s over {secs:.1f}s "
          f"(`skipcore api --workers {args.api_workers}`, Postgres + Redis)")
    print(f"database: {(x1 - x0 - own) / secs:.1f} transactions/s besides the writer's "
          f"({x1 - x0} in all), {(tup1 - tup0) / secs:,.0f} tuples returned/s")
    print(f"event delay (commit -> stream): p50 {q[49] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms, "
          f"max {delays[-1] * 1e3:.1f} ms over {len(delays)} receipts")
    ok = complete and per_stream == {flushes}
    print(f"every stream got every event once, in order: {ok} (progress events per stream {sorted(per_stream)})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
