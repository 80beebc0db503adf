"""Server-Sent Events: a run's status, progress and new metric points as they are written.

Events come from the `run_events` log, so each has a stable id; a client that reconnects with
`Last-Event-ID` gets exactly what it missed (a metrics event's points are read from the metric
points it names: `persistence.repo.events`). The stream ends after the run's final status event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, AsyncIterator, Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import RunDep, StateDep
from persistence.db import session_scope
from persistence.models import FINISHED
from persistence.repo import events

router = APIRouter(prefix="/v1/runs", tags=["runs"])

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


def _fetch(state, run_id: str, after: Optional[int]):
    with session_scope(state.sessions) as s:
        return events.since(s, run_id, after)


@router.get("/{run_id}/events", summary="Live events of a run (text/event-stream); honours Last-Event-ID",
            response_class=StreamingResponse,
            responses={200: {"description": "events `status`, `progress`, `metrics`, each with an id to resume from",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                       404: {"description": "unknown run"}})
async def run_events(
    request: Request,
    run: RunDep,
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

    async def stream() -> AsyncIterator[str]:
        cursor = start
        idle = 0.0
        yield "retry: 2000\n\n"
        while True:
            batch = await run_in_threadpool(_fetch, state, run_id, cursor)
            for eid, kind, data in batch:
                cursor = eid
                yield f"id: {eid}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
                if kind == "status" and data.get("status") in FINISHED:
                    return
            if not batch:
                if finished_already:
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(POLL_SECONDS)
                idle += POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keep-alive\n\n"
            else:
                idle = 0.0

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
