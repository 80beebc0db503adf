"""create_app(settings): routers, error handlers, lifespan. It only assembles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import asynccontextmanager
from typing import Optional

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api import docs, errors, examples, live, sweeper as sweeper_loop, telemetry, warmup
from api.body_limit import BodyLimit
from api.routes import artifacts, experiments, front, health, probes, report, results, runs, stream
from api.schemas import FieldErrors
from api.state import AppState
from persistence.db import make_engine, make_sessionmaker
from persistence.objects import make_store
from persistence.queue import make_celery
from persistence.schema import verify
from persistence.settings import Settings, get_settings
from skipcore.spec import ExperimentSpec

log = logging.getLogger("skipcore.api")
GZIP_MIN_BYTES = 4096
WARMUP_SECONDS = 5.0


class Timing:
    """Request count and latency (to the response's first byte) by method, route and status, as a
    plain ASGI middleware: `@app.middleware("http")` (BaseHTTPMiddleware) re-streams every body
    through an extra anyio task, which cost ~1 ms a request."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        seen = False

        def observe(status: int) -> None:
            route = scope.get("route")
            telemetry.observe_request(scope["method"], getattr(route, "path", "unmatched"), status,
                                      time.perf_counter() - t0)

        async def timed_send(message) -> None:
            nonlocal seen
            if message["type"] == "http.response.start" and not seen:
                seen = True
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            if not seen:
                observe(500)
            raise


def create_app(settings: Optional[Settings] = None, *, sweeper: bool = True, announce: bool = True) -> FastAPI:
    """The app. `announce=False`: the caller says itself that authentication is off (`skipcore serve`
    prints it once in its start-up banner), so the lifespan does not log it again."""
    settings = settings or get_settings()
    engine = make_engine(str(settings.database_url))
    verify(engine)  # refuse an old schema, naming the command to run
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        store=make_store(settings),
        celery=make_celery(settings),
    )

    state.extras["live"] = hub = live.Hub(state.sessions, str(settings.database_url))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(sweeper_loop.run(state)) if sweeper else None
        await hub.start()  # one event listener (or poller) per process for every SSE stream
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(asyncio.to_thread(warmup.warm_broker, state.celery),
                                                  asyncio.to_thread(warmup.fill_pool, engine)), WARMUP_SECONDS)
        warmup.freeze_startup_objects()
        if announce and not settings.require_auth:
            log.warning("authentication is OFF (embedded profile): serve on 127.0.0.1 only")
        yield
        await hub.stop()
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        engine.dispose()

    app = FastAPI(
        title="skipcore",
        version="0.1.0",
        summary="Training jobs for studying skip connections",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from the package's own Swagger UI files, not a CDN
        redoc_url=None,
    )
    app.state.skipcore = state
    errors.install(app)

    # gzip for large bodies only (a 10^5-point history is 8 MB of JSON, 1.2 MB gzipped); level 1:
    # levels 4-9 cost more CPU than the bytes they saved on loopback. SSE is never gzipped.
    # Added first, so innermost: it sees the route's whole body as the route sent it.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=1)

    app.add_middleware(Timing)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # outermost: refuses before reading

    for module in (front, experiments, runs, probes, artifacts, stream, health, results, report):
        app.include_router(module.router)
    app.include_router(experiments.schema_router)
    docs.install(app)

    original_openapi = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        spec_schema = ExperimentSpec.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = spec_schema.pop("$defs", {})
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs)
        components["ExperimentSpec"] = spec_schema
        # our 422 body (api.errors.unprocessable): field/message plus FastAPI's loc/msg/type
        errors_schema = FieldErrors.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(errors_schema.pop("$defs", {}))
        components["HTTPValidationError"] = errors_schema
        components.pop("ValidationError", None)
        examples.install(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
