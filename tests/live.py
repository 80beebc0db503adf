"""A real embedded service (`skipcore serve`: API + Celery worker process) shared by a test module.

Like `tests.service.embedded`, but stopped with SIGINT: uvicorn re-raises a captured SIGTERM after
its shutdown, which kills `serve` before its `finally` stops the worker (the worker, in its own
session, would be left running). SIGINT becomes KeyboardInterrupt, so `serve` stops its worker.
"""

from __future__ import annotations

import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests import service
from tests.conftest import free_port


@contextmanager
def serve(home: Path, **settings: str) -> Iterator[str]:
    port = free_port()
    log = home / "serve.log"
    proc = service._spawn(service.CLI + ["serve", "--port", str(port)], service.service_env(home, **settings), log)
    url = f"http://127.0.0.1:{port}"
    try:
        service.wait_healthy(url, [proc], [log])
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                service.stop(proc)
