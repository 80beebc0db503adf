"""Headless Chromium driven over the DevTools protocol (no Selenium): load a page, collect console
errors, uncaught exceptions and failed loads (Log entries: 404s, CSP violations), check the images,
take a screenshot. Chromium is required: without it the caller FAILS with how to install it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import free_port

INSTALL = "`apt-get update && apt-get install -y chromium` (Debian; .ci/run does this)"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--disable-dev-shm-usage"]


# No network but loopback: every other host goes to a proxy that is not there (Chromium sends
# loopback addresses direct), and no name resolves. Used to check a page needs nothing from outside.
OFFLINE = ("--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def chromium_binary() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        pytest.fail(f"headless Chromium is required for the browser tests; install it with {INSTALL}")
    return path


@dataclass
class Page:
    ws: Any
    events: list[dict] = field(default_factory=list)
    _id: int = 0

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
        return next(e for e in self.events if e.get("method") == method)

    def open(self, url: str, width: int, height: int) -> None:
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def images_after_scroll(self, timeout: float = 20.0) -> list[list]:
        """Scroll to the bottom so lazy images load, wait for them, scroll back; [complete, naturalWidth] each."""
        js = "[...document.images].map(i => [i.complete, i.naturalWidth])"
        deadline = time.monotonic() + timeout
        while True:
            for y in range(0, int(self.evaluate("document.body.scrollHeight")) + 1000, 1000):
                self.evaluate(f"window.scrollTo(0, {y})")
                time.sleep(0.02)
            images = self.evaluate(js)
            if all(done for done, _ in images) or time.monotonic() > deadline:
                self.evaluate("window.scrollTo(0, 0)")
                return images
            time.sleep(0.2)

    def requested_urls(self) -> list[str]:
        """The URLs the page asked for (needs `Network.enable` before `open`)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate `expression` until it is truthy (a condition on the page), or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout}s: {expression}")
            time.sleep(0.1)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions, and error-level log entries (failed loads, CSP)."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + json.dumps(p.get("args", []))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out


@contextmanager
def chromium(profile: Path, timeout: float = 30.0, flags: tuple[str, ...] = ()) -> Iterator[Page]:
    """A headless Chromium with one page; `flags` are added to its command line (e.g. OFFLINE)."""
    profile.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), profile / "chromium.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([chromium_binary(), *FLAGS, *flags, f"--remote-debugging-port={port}",
                                 f"--user-data-dir={profile}", "about:blank"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, targets = time.monotonic() + timeout, []
        while not targets:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port:\n" + log.read_text()[-3000:])
            try:
                targets = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                           if t.get("type") == "page"]
            except httpx.HTTPError:
                time.sleep(0.1)
        with connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10) as ws:
            yield Page(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
