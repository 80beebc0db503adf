"""`skipcore serve` (a real subprocess: API + Celery worker) says once, when it listens, where to
go: the URL, the front page, /docs, where state lives, and that authentication is off on 127.0.0.1;
and each of those answers."""

from __future__ import annotations

import time

import httpx
import pytest

from tests import service

pytestmark = pytest.mark.slow


def wait_for_text(path, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = path.read_text(errors="replace")
        if text in out:
            return out
        assert time.monotonic() < deadline, f"{text!r} not printed:\n{out[-3000:]}"
        time.sleep(0.1)


def test_serve_prints_the_urls_state_and_auth_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with service.embedded(home) as url:
        log = home / "serve.log"
        wait_for_text(log, "Ctrl-C stops")
        for path in ("/", "/docs"):
            assert httpx.get(url + path, timeout=30).status_code == 200, path
        # the worker's own start-up lines come later too: give it the time to print them
        wait_for_text(log, " ready.", timeout=60)  # the Celery worker is up
        out = log.read_text(errors="replace")
    lines = out.splitlines()
    assert out.count("authentication is OFF") == 1, out
    assert out.count(f"skipcore is ready at {url}") == 1, out
    start = lines.index(f"skipcore is ready at {url}")
    block = "\n".join(lines[start:start + 6])  # printed in one piece: nothing else lands inside it
    assert f"front page  {url}/\n" in block and f"API docs    {url}/docs\n" in block, block
    assert f"state       {home}" in block and "skipcore.db" in block, block
    assert "authentication is OFF: serving on 127.0.0.1 only" in block, block
