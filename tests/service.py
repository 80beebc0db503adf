"""The real service as subprocesses for end-to-end tests (`servicekit`: `embedded`, `production`,
`spawn`, `stop`, ...), plus what only tests need: an app served in a thread, and polling a
resource until it reaches a status."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import httpx

from servicekit import (  # noqa: F401 (re-exported for the tests)
    CLI,
    ROOT,
    embedded,
    free_port,
    production,
    production_env,
    production_worker,
    service_env,
    spawn,
    stop,
    wait_healthy,
)

_spawn = spawn


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
