"""/healthz (SELECT 1) and /metrics (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from api import telemetry
from api.deps import ReadKey, StateDep
from api.schemas import Health
from persistence.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="200 when the API can reach its database",
            responses={503: {"description": "database unreachable"}})
def healthz(state: StateDep):
    try:
        ping(state.engine)
    except Exception as exc:  # noqa: BLE001
        return JSONResponse(status_code=503, content={"status": "unavailable", "database": str(exc)[:200]})
    return Health(status="ok", database="ok")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text exposition format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       401: {"description": "no API key"}})
def metrics(state: StateDep, _: ReadKey):  # run counts are not for anonymous eyes; scrape with a read key
    body, content_type = telemetry.render(state)
    return Response(content=body, media_type=content_type)
