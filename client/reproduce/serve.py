"""`--serve`: start `skipcore serve` on a free port with a temporary SKIPCORE_HOME, yield its URL,
and stop it (the whole process group) afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def embedded(concurrency: int = 1, keep: bool = False) -> Iterator[str]:
    home = Path(tempfile.mkdtemp(prefix="skipcore-reproduce-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env.update(SKIPCORE_HOME=str(home), SKIPCORE_WORKER_CONCURRENCY=str(concurrency), PYTHONUNBUFFERED="1",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    log = open(home / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--concurrency",
                             str(concurrency)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"skipcore serve exited {proc.returncode}:\n{(home / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("skipcore serve not healthy after 120 s")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)
        log.close()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT first (serve then stops its worker), then SIGTERM / SIGKILL to the whole group."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (the worker's children)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
        break
