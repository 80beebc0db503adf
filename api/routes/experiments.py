"""Experiments: submit (validated, stored, queued after commit), list, get, cancel.

The submit route declares its body (`ExperimentSpec`), so FastAPI validates it and the OpenAPI
document describes it; `SpecBodyRoute` reads that body as JSON whatever its Content-Type says
(as the service always has) and words the errors about the body as a whole (empty, not JSON, not
an object) plainly. Every error then goes through `api.errors`, the one 422 shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated, Any, Callable, Optional

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError

from api.convert import experiment_out, json_response
from api.deps import ExperimentDep, ReadKey, SessionDep, StateDep, WriteKey
from api.errors import unprocessable
from api.guard import check_resources
from api.schemas import UNPROCESSABLE, ExperimentOut, ExperimentPage, FieldErrors
from persistence.models import STATUSES
from persistence.queue import send_run
from persistence.repo import experiments as repo
from skipcore.spec import ExperimentSpec, json_schema

log = logging.getLogger("skipcore.api")
_OBJECT_TYPES = ("model_attributes_type", "model_type", "dict_type")


def _whole_body(e: dict[str, Any]) -> dict[str, Any]:
    """An error about the body as a whole, in plain words (others are left to `api.errors`)."""
    loc, kind = tuple(e.get("loc", ())), e.get("type")
    if kind == "json_invalid":
        at = f" (at character {loc[1]})" if len(loc) > 1 else ""
        return {**e, "loc": ("body",), "msg": f"not valid JSON: {(e.get('ctx') or {}).get('error', 'unreadable')}{at}"}
    if loc != ("body",):
        return e
    if kind == "missing":
        return {**e, "msg": "the body is empty; send an experiment spec as JSON"}
    if kind in _OBJECT_TYPES:
        got = type(e.get("input")).__name__
        return {**e, "type": "object_type", "msg": f"the spec must be a JSON object, got {got}"}
    return e


class SpecBodyRoute(APIRoute):
    """A route whose declared body is read as JSON whatever the Content-Type header says, with
    errors about the body as a whole worded plainly (`_whole_body`)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def route(request: Request) -> Response:
            body = await request.body()
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "input": None,
                                               "msg": f"not valid JSON: not UTF-8 text ({exc.reason})"}]) from exc

            async def replay() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"content-type"]
            scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}
            try:
                return await handler(Request(scope, replay))
            except RequestValidationError as exc:
                raise RequestValidationError([_whole_body(e) for e in exc.errors()], body=exc.body) from exc

        return route


router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=SpecBodyRoute)

_EXAMPLE = {
    "name": "telescope-d50",
    "model": {"family": "telescope_mlp", "depth": 50, "width": 64},
    "data": {"name": "sine"},
    "train": {"optimizer": "adam", "lr": 0.001, "epochs": 2000, "batch_size": 32},
    "probes": [{"name": "weight_magnitude"}, {"name": "skip_ablation"}],
    "seeds": [0, 1, 2],
    "sweep": {"model.depth": [2, 3, 4]},
}


async def raw_body(request: Request) -> bytes:
    return await request.body()  # the bytes FastAPI validated the spec from (read once, kept by the request)


def enqueue(state: Any, run_ids: list[str]) -> None:
    """Send one task per run, by name, after the transaction committed. A failed send leaves the
    run queued; the sweeper sends it again."""
    for run_id in run_ids:
        try:
            send_run(state.celery, run_id)
        except Exception:  # noqa: BLE001 - the broker being down must not lose the experiment
            log.exception("could not enqueue run %s; the sweeper will retry", run_id)


@router.post(
    "",
    status_code=201,
    response_model=ExperimentOut,
    summary="Submit an experiment spec",
    responses={200: {"description": "same Idempotency-Key and body: the experiment already made",
                     "model": ExperimentOut},
               409: {"description": "Idempotency-Key reused with a different body"},
               413: {"description": "body over the size limit"},
               422: {"model": FieldErrors, "description": "invalid spec; `detail` lists each field and why"},
               429: {"description": "too many submissions; see Retry-After"}},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
)
def create_experiment(
    state: StateDep,
    session: SessionDep,
    principal: WriteKey,
    spec: Annotated[ExperimentSpec, Body(description="the experiment spec (unknown keys are refused)")],
    body: Annotated[bytes, Depends(raw_body)],
    idempotency_key: Annotated[Optional[str], Header(max_length=200)] = None,
):
    problem = check_resources(spec, state.settings)
    if problem is not None:
        return unprocessable([problem])

    # the body as sent (not the spec with its defaults): the same key with another body is a conflict
    body_hash = hashlib.sha256(json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    plans = spec.expand()
    try:
        # the idempotency check is folded into the INSERT (ON CONFLICT DO NOTHING): a reused key
        # writes nothing and answers with the prior experiment; a concurrent twin waits for ours
        new = repo.insert_new(
            session,
            name=spec.name,
            spec=spec.model_dump(mode="json"),
            runs=[(p.seed, p.params, p.run_spec()) for p in plans],
            owner=principal.owner,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            recent_cap=state.settings.submissions_per_minute,
        )
    except IntegrityError as exc:
        # a concurrent request with the same Idempotency-Key won the race (databases without ON CONFLICT)
        new, integrity = None, exc
    else:
        integrity = None
    if new is None:
        session.rollback()
        prior = repo.by_idempotency_key(session, principal.owner, idempotency_key or "")
        if prior is None:
            if integrity is not None:
                raise integrity
            raise HTTPException(409, "Idempotency-Key in use by a request that did not finish; retry")
        return _replay(prior, body_hash)
    # counted in the database (every API process, across restarts), by the INSERT itself where it
    # could; replays above are not counted
    exp = new.experiment
    wait = repo.over_rate(session, principal.owner, state.settings.submissions_per_minute, exp.created_at,
                          recent=new.recent)
    if wait is not None:
        session.rollback()  # nothing stored
        raise HTTPException(429, f"over {state.settings.submissions_per_minute} submissions per minute",
                            headers={"Retry-After": str(int(wait) + 1)})
    out = experiment_out(exp)
    session.commit()
    enqueue(state, [r.id for r in out.runs])
    return json_response(out, 201, {"Location": f"/v1/experiments/{out.id}"})


def _replay(prior: Any, body_hash: str):
    if prior.spec_hash != body_hash:
        return JSONResponse(
            status_code=409,
            content={"detail": "Idempotency-Key already used with a different body", "experiment_id": prior.id},
        )
    return json_response(experiment_out(prior), 200, {"Location": f"/v1/experiments/{prior.id}"})


@router.get("", response_model=ExperimentPage, summary="List experiments, newest first", responses=UNPROCESSABLE)
def list_experiments(
    state: StateDep,
    session: SessionDep,
    principal: ReadKey,
    status: Annotated[Optional[str], Query(description="one of " + ", ".join(STATUSES))] = None,
    limit: Annotated[Optional[int], Query(ge=1)] = None,
    cursor: Annotated[Optional[str], Query(max_length=500)] = None,
):
    if status is not None and status not in STATUSES:
        return unprocessable([{"field": "status", "message": f"must be one of {', '.join(STATUSES)}", "type": "enum"}],
                             where="query")
    n = min(limit or state.settings.page_default, state.settings.page_max)
    try:
        items, nxt = repo.list_page(session, owner=principal.owner_filter, status=status, limit=n, cursor=cursor)
    except ValueError:
        return unprocessable([{"field": "cursor", "message": "malformed cursor", "type": "value_error"}], where="query")
    return ExperimentPage(items=[experiment_out(e) for e in items], next_cursor=nxt)


@router.get("/{experiment_id}", response_model=ExperimentOut, summary="One experiment with its runs",
            responses={404: {"description": "unknown experiment"}})
def get_experiment(exp: ExperimentDep):
    return experiment_out(exp)


@router.post("/{experiment_id}/cancel", status_code=202, response_model=ExperimentOut,
             summary="Cancel an experiment: queued runs never start, running runs stop at their next step",
             responses={404: {"description": "unknown experiment"}, 409: {"description": "already finished"}})
def cancel_experiment(exp: ExperimentDep, session: SessionDep, principal: WriteKey):
    if exp.status in ("succeeded", "failed", "cancelled") and not any(r.status == "cancelling" for r in exp.runs):
        if exp.status == "cancelled":
            return experiment_out(exp)  # cancelling twice is harmless
        raise HTTPException(409, f"experiment already {exp.status}")
    repo.request_cancel(session, exp)
    session.commit()
    return experiment_out(exp)


schema_router = APIRouter(prefix="/v1/schema", tags=["schema"])


@schema_router.get("/experiment", summary="The JSON Schema of the experiment spec")
def experiment_schema(_: ReadKey) -> dict[str, Any]:
    return json_schema()
