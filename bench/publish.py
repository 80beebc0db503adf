"""One run's publish on the Redis broker, side by side in one process: Celery's plain
`send_task(TASK_RUN, args=[run_id], queue=QUEUE)` on kombu's own Redis transport (a new Redis
client for every publish, the queue declared and the argument's log form computed each time)
against `persistence.queue.send_run` on the service's transport (`persistence.redisbroker`).
Rounds alternate; each prints microseconds per publish; the last line gives the ratio's median
and spread. Loopback Redis; the queue is emptied afterwards.

    python bench/publish.py [--publishes 2000] [--rounds 5] [--redis-db 12]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._cli import options  # noqa: E402
from persistence.queue import QUEUE, TASK_RUN, make_celery, send_run  # noqa: E402
from persistence.settings import Settings  # noqa: E402

REDIS = os.environ.get("SKIPCORE_TEST_REDIS", "redis://127.0.0.1:6379")


def timed(publish, n: int) -> float:
    ids = [uuid.uuid4().hex for _ in range(n)]
    t0 = time.perf_counter()
    for run_id in ids:
        publish(run_id)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> int:
    args = options(publishes=2000, rounds=5, redis_db=12)
    url = f"{REDIS}/{args.redis_db}"
    settings = Settings(home=Path(tempfile.mkdtemp()), broker_url=url)
    ours = make_celery(settings)
    stock = make_celery(settings)
    stock.conf.broker_transport = None  # kombu's own transport for the URL's scheme
    sides = {
        "send_task, kombu's transport": lambda run_id: stock.send_task(TASK_RUN, args=[run_id], queue=QUEUE),
        "send_run, the service's transport": lambda run_id: send_run(ours, run_id),
    }
    for publish in sides.values():
        timed(publish, 50)  # connect, warm
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} load average "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}; {args.publishes} publishes a round")
    ratios = []
    try:
        for r in range(args.rounds):
            order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
            got = {name: timed(publish, args.publishes) for name, publish in order}
            before, after = got.values() if r % 2 == 0 else list(got.values())[::-1]
            ratios.append(after / before)
            print(f"round {r + 1}: " + ", ".join(f"{name} {us:.0f} us" for name, us in got.items())
                  + f"; ours / plain {ratios[-1]:.2f}")
    finally:
        redis.Redis.from_url(url).delete(QUEUE, f"_kombu.binding.{QUEUE}")
        ours.close()
        stock.close()
    print(f"ours / plain: median {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] "
          f"({len(ratios)} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
