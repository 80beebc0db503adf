"""Start the real skipcore service as subprocesses (the README's commands) and stop it again: the
one helper of the tests, the benchmarks and the reproduction report.

It only spawns `skipcore` command-line processes (`python -m cli.main ...`, each in its own
session, logging to a file) and asks `/healthz` over HTTP; it imports no part of the service.

- `embedded(home, **settings)`: `skipcore serve` (API + a Celery worker on the filesystem broker,
  SQLite, local store); yields its URL.
- `production(home, workers=1, api_workers=1, **settings)`: `skipcore db upgrade`, then
  `skipcore api` and `workers` x `skipcore worker` for the configured database and broker; yields
  (URL, processes).
- `spawn`, `stop`, `wait_healthy`, `service_env`, `free_port`: the pieces, for callers that start
  processes of their own.

Settings are keyword arguments named as `persistence.settings.Settings` fields (`lease_seconds="3"`
becomes SKIPCORE_LEASE_SECONDS=3); the caller's SKIPCORE_* variables are not inherited. Processes
started here train one run at a time unless `worker_concurrency` is given (the service's own
default, `auto`, is one training process per core), so what they do does not depend on the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(home: Path, **settings: str) -> dict[str, str]:
    """This process's environment without SKIPCORE_*, plus SKIPCORE_HOME and the given settings
    (worker_concurrency 1 unless given)."""
    settings = {"worker_concurrency": "1", **settings}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env["SKIPCORE_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"SKIPCORE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def production_env(home: Path, **settings: str) -> dict[str, str]:
    return service_env(home, **{"profile": "production", "require_auth": "false", **settings})


def spawn(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `args` in a session of its own (so `stop` reaches its children), appending to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(args), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """`sig` to the process group (SIGINT lets `skipcore serve` stop its worker), then SIGKILL to
    whatever of the group is left after `timeout`."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def wait_healthy(url: str, procs: Sequence[subprocess.Popen], logs: Sequence[Path], timeout: float = 90.0) -> None:
    """Until `url/healthz` answers 200; raises with the logs' tails if a process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, log in zip(procs, logs):
            if p.poll() is not None:
                raise RuntimeError(f"process exited with {p.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"service not healthy after {timeout:.0f}s:\n" + "\n".join(l.read_text()[-3000:] for l in logs))


@contextmanager
def embedded(home: Path, *, concurrency: int = 1, timeout: float = 90.0, **settings: str) -> Iterator[str]:
    """`skipcore serve` on a free port; stopped with SIGINT (it stops its worker first)."""
    port = free_port()
    log = home / "serve.log"
    proc = spawn(CLI + ["serve", "--port", str(port), "--concurrency", str(concurrency)],
                 service_env(home, **settings), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, [proc], [log], timeout)
        yield url
    finally:
        stop(proc, 30.0, signal.SIGINT)


def production_worker(home: Path, index: int, **settings: str) -> subprocess.Popen:
    """One `skipcore worker --concurrency 1`, logging to home/worker{index}.log; stop it with `stop`."""
    return spawn(CLI + ["worker", "--concurrency", "1", "--loglevel", "INFO"], production_env(home, **settings),
                 home / f"worker{index}.log")


@contextmanager
def production(home: Path, *, workers: int = 1, api_workers: int = 1, timeout: float = 90.0,
               env: Optional[dict[str, str]] = None,
               **settings: str) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """`skipcore db upgrade`, `skipcore api --workers api_workers` and `workers` workers (`env`:
    the whole environment instead of `production_env(home, **settings)`)."""
    env = env or production_env(home, **settings)
    subprocess.run(CLI + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    logs = [home / "api.log"] + [home / f"worker{i}.log" for i in range(workers)]
    procs = [spawn(CLI + ["api", "--port", str(port), "--workers", str(api_workers)], env, logs[0])]
    procs += [spawn(CLI + ["worker", "--concurrency", env.get("SKIPCORE_WORKER_CONCURRENCY", "1"), "--loglevel",
                           "INFO"], env, log) for log in logs[1:]]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, procs, logs, timeout)
        yield url, procs
    finally:
        for p in reversed(procs):
            stop(p)
