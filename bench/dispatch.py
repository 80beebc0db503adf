"""Dispatch latency: POST /v1/experiments -> the run is `running` (claimed by a worker), on the
embedded profile (`skipcore serve`: SQLite + filesystem broker) and on Postgres + Redis.

The latency is `runs.started_at` (stamped by the worker's claim, same machine clock) minus the
wall time just before the POST was sent, so no client polling interval is in it. Each submit waits
until the previous run finished (an idle worker), n times, median and max. Loopback only.

    python bench/dispatch.py [--n 20] [--profiles embedded,redis]
Targets: < 0.3 s embedded, < 50 ms Redis.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._cli import options  # noqa: E402
from bench._service import service, tiny_spec, wait_ended  # noqa: E402


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def measure(svc, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        for i in range(n + 1):  # the first one warms the worker (imports, first connection)
            t0 = time.time()
            r = c.post("/v1/experiments", json=tiny_spec(f"dispatch-{i}"))
            r.raise_for_status()
            run_id = r.json()["runs"][0]["id"]
            run = wait_ended(c, f"/v1/runs/{run_id}", timeout=60, poll=0.02)
            if run["status"] != "succeeded":
                raise SystemExit(f"run {run_id} {run['status']}: {run.get('error')}")
            if i:
                out.append(_ts(run["started_at"]) - t0)
    return out


def main() -> None:
    args = options(n=20, profiles="embedded,redis")
    for profile in args.profiles.split(","):
        with service(profile) as svc:
            lat = sorted(measure(svc, args.n))
        print(f"{profile:9s} POST -> running: median {statistics.median(lat) * 1e3:.0f} ms, "
              f"min {lat[0] * 1e3:.0f}, max {lat[-1] * 1e3:.0f} (n={len(lat)})", flush=True)


if __name__ == "__main__":
    main()
