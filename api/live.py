"""Live run events for many streams: one reader per watched run per API process, woken by notifications.

A stream (`api.routes.stream`) first replays from the database what its client has not seen
(`Last-Event-ID`); from then on it reads the run's `RunTail`, the run's recent events kept in
memory. The tail is read from the database once per change for every stream of the run, when:

- a Postgres `NOTIFY` names the run (`persistence.notify.listen`: one connection per process; the
  worker's commit that appended the events sends it);
- this process itself committed events of the run (`persistence.notify.on_commit`);
- the one poller of the process sees a newer event id than the tail's (a single query for every
  watched run: every `POLL_SECONDS` where no notifications come, i.e. SQLite, the embedded profile
  whose worker is another process, or Postgres while the listener reconnects; every
  `SAFETY_POLL_SECONDS` otherwise, against a lost notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator, Iterable, Optional

from starlette.concurrency import run_in_threadpool

from persistence import notify
from persistence.db import session_scope
from persistence.repo import events

log = logging.getLogger("skipcore.api.live")

POLL_SECONDS = 0.25
SAFETY_POLL_SECONDS = 10.0
TAIL_EVENTS = 256  # events a tail keeps; a stream further behind reads the database itself
BATCH = 500

Event = tuple[int, str, dict]


class RunTail:
    """The run's events after `base`, read by one pump task for all of the run's streams."""

    def __init__(self, hub: "Hub", run_id: str) -> None:
        self.hub, self.run_id = hub, run_id
        self.base: Optional[int] = None  # every event with id > base is in `events` (once set)
        self.last: Optional[int] = None
        self.events: list[Event] = []
        self.watchers = 0
        self.changed = asyncio.Event()  # replaced by a fresh one at each change
        self._kick = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    def kick(self) -> None:
        if self.base is not None:
            self._kick.set()

    def start_at(self, cursor: int) -> None:
        """The first stream caught up to `cursor`: the tail holds what comes after (and reads once
        now, for events committed between that stream's replay and this call)."""
        if self.base is None:
            self.base = self.last = cursor
            self._kick.set()

    def after(self, cursor: int) -> Optional[list[Event]]:
        """The kept events after `cursor`; None when the tail does not reach back that far."""
        if self.base is None or cursor < self.base:
            return None
        return [e for e in self.events if e[0] > cursor]

    async def _pump(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                while True:
                    batch = await run_in_threadpool(self.hub.fetch, self.run_id, self.last)
                    if batch:
                        self._append(batch)
                    if len(batch) < BATCH:
                        break
            except Exception:  # noqa: BLE001 - the database is away: try again, streams wait
                log.exception("reading the events of run %s failed", self.run_id)
                await asyncio.sleep(1.0)
                self._kick.set()

    def _append(self, batch: list[Event]) -> None:
        self.events.extend(batch)
        self.last = batch[-1][0]
        if len(self.events) > TAIL_EVENTS:
            dropped = self.events[: len(self.events) - TAIL_EVENTS]
            self.events = self.events[len(dropped):]
            self.base = dropped[-1][0]
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        self._task.cancel()


class Hub:
    def __init__(self, sessions, database_url: str) -> None:
        self.sessions = sessions
        self.database_url = database_url
        self.tails: dict[str, RunTail] = {}
        self.listening = False
        self._tasks: list[asyncio.Task] = []
        self._unregister = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def fetch(self, run_id: str, after: Optional[int]) -> list[Event]:
        with session_scope(self.sessions) as s:
            return events.since(s, run_id, after, limit=BATCH)

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._unregister = notify.on_commit(self._committed)
        if self.database_url.startswith("postgresql"):
            self._tasks.append(asyncio.create_task(notify.listen(self.database_url, self.kick, self._listening)))
        self._tasks.append(asyncio.create_task(self._poll()))

    async def stop(self) -> None:
        if self._unregister:
            self._unregister()
        for t in self._tasks + [tail._task for tail in self.tails.values()]:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _committed(self, run_ids: set[str]) -> None:  # from the committing thread
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.kick, run_ids)

    def _listening(self, up: bool) -> None:
        self.listening = up
        if up:  # notifications sent while it was down are lost: every tail reads once
            for tail in self.tails.values():
                tail.kick()

    def kick(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            tail = self.tails.get(run_id)
            if tail is not None:
                tail.kick()

    @asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[RunTail]:
        await self.start()  # where the app runs without its lifespan, the first stream starts it
        tail = self.tails.get(run_id)
        if tail is None:
            tail = self.tails[run_id] = RunTail(self, run_id)
        tail.watchers += 1
        try:
            yield tail
        finally:
            tail.watchers -= 1
            if tail.watchers == 0 and self.tails.get(run_id) is tail:
                del self.tails[run_id]
                tail.close()

    def _latest(self, run_ids: list[str]) -> dict[str, int]:
        with session_scope(self.sessions) as s:
            return events.latest_ids(s, run_ids)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_POLL_SECONDS if self.listening else POLL_SECONDS)
            started = {r: t for r, t in self.tails.items() if t.last is not None}
            if not started:
                continue
            try:
                latest = await run_in_threadpool(self._latest, list(started))
            except Exception:  # noqa: BLE001 - try again at the next tick
                log.exception("polling run events failed")
                continue
            for run_id, newest in latest.items():
                tail = started[run_id]
                if tail.last is not None and newest > tail.last:
                    tail.kick()
