"""Start the real service as subprocesses (the README's commands) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import httpx

from tests.conftest import free_port

CLI = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def in_thread(app, **config) -> Iterator[int]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread of this process; yields
    the port once uvicorn is listening, and stops it afterwards."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(10)


def service_env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env["SKIPCORE_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"SKIPCORE_{k.upper()}": v for k, v in settings.items()})
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_healthy(url: str, procs: list[subprocess.Popen], logs: list[Path], timeout: float = 90.0) -> None:
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
        time.sleep(0.2)
    raise TimeoutError("service not healthy:\n" + "\n".join(l.read_text()[-3000:] for l in logs))


@contextmanager
def embedded(home: Path, **settings: str) -> Iterator[str]:
    """`skipcore serve` (API + a real Celery worker on the filesystem broker), SQLite, local store."""
    port = free_port()
    env = service_env(home, **settings)
    log = home / "serve.log"
    proc = _spawn(CLI + ["serve", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, [proc], [log])
        yield url
    finally:
        stop(proc)


def production_env(home: Path, **settings: str) -> dict[str, str]:
    return service_env(home, profile="production", require_auth="false", **settings)


def production_worker(home: Path, index: int, **settings: str) -> subprocess.Popen:
    """One `skipcore worker --concurrency 1`, logging to home/worker{index}.log; stop it with `stop`."""
    return _spawn(CLI + ["worker", "--concurrency", "1"], production_env(home, **settings),
                  home / f"worker{index}.log")


@contextmanager
def production(home: Path, *, workers: int = 1, **settings: str) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """`skipcore db upgrade`, then `skipcore api` and `skipcore worker` on Postgres/Redis/S3."""
    env = production_env(home, **settings)
    subprocess.run(CLI + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    logs = [home / "api.log"] + [home / f"worker{i}.log" for i in range(workers)]
    procs = [_spawn(CLI + ["api", "--port", str(port)], env, logs[0])]
    procs += [production_worker(home, i, **settings) for i in range(workers)]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, procs, logs)
        yield url, procs
    finally:
        for p in procs:
            stop(p)


def wait_for(client: httpx.Client, path: str, statuses: set[str], timeout: float = 120.0,
             seen: Optional[list] = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if seen is not None and (not seen or seen[-1] != body["status"]):
            seen.append(body["status"])
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise TimeoutError(f"{path} still {body['status']} after {timeout}s: {body}")
