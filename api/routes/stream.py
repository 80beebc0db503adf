"""Server-Sent Events: a run's status, progress and new metric points as they are written.

Events come from the `run_events` log, so each has a stable id; a client that reconnects with
`Last-Event-ID` gets exactly what it missed (a metrics event's points are read from the metric
points it names: `persistence.repo.events`). The stream ends after the run's final status event.
A stream reads the database itself only to replay what its client missed; after that it follows
the run's shared tail (`api.live`), which notifications wake: no query per client per tick.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, AsyncIterator, Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import RunDep, SessionDep, StateDep
from api.live import BATCH, Event, Hub
from persistence.models import FINISHED

router = APIRouter(prefix="/v1/runs", tags=["runs"])

KEEPALIVE_SECONDS = 15.0
DISCONNECT_CHECK_SECONDS = 1.0


def hub(state) -> Hub:
    return state.extras["live"]


def _frame(event: Event) -> str:
    eid, kind, data = event
    return f"id: {eid}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _final(event: Event) -> bool:
    return event[1] == "status" and event[2].get("status") in FINISHED


@router.get("/{run_id}/events", summary="Live events of a run (text/event-stream); honours Last-Event-ID",
            response_class=StreamingResponse,
            responses={200: {"description": "events `status`, `progress`, `metrics`, each with an id to resume from",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                       404: {"description": "unknown run"}})
async def run_events(
    request: Request,
    run: RunDep,
    session: SessionDep,
    state: StateDep,
    last_event_id: Annotated[Optional[str], Header()] = None,
    after: Annotated[Optional[int], Query(description="same as Last-Event-ID, for clients that cannot set headers")] = None,
):
    start: Optional[int] = after
    if last_event_id:
        try:
            start = int(last_event_id)
        except ValueError:
            start = None
    run_id, finished_already = run.id, run.status in FINISHED
    session.close()  # the request's session would otherwise hold a pooled connection as long as the stream
    live = hub(state)

    async def stream() -> AsyncIterator[str]:
        cursor = start if start is not None else 0
        yield "retry: 2000\n\n"
        async with live.watch(run_id) as tail:
            following, idle = False, 0.0  # following: the tail holds what comes after the cursor
            while True:
                changed = tail.changed
                batch = tail.after(cursor)
                following = following or batch is not None
                if batch is None:  # replaying what the tail does not hold, or fell behind it: read the database
                    batch = await run_in_threadpool(live.fetch, run_id, cursor)
                for event in batch:
                    cursor = event[0]
                    yield _frame(event)
                    if _final(event):
                        return
                if not following:  # still replaying: read on until the database has no more
                    if len(batch) < BATCH:
                        if finished_already:
                            return
                        tail.start_at(cursor)
                    continue
                if batch:
                    idle = 0.0
                    continue
                try:
                    await asyncio.wait_for(changed.wait(), DISCONNECT_CHECK_SECONDS)
                    idle = 0.0
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    idle += DISCONNECT_CHECK_SECONDS
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
