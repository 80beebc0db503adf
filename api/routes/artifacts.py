"""Artifacts: list with signed, short-lived download URLs; download by signature or API key.

Both read only: what is listed and served is what the worker stored. A figure's PNG or SVG that
the worker has not drawn yet (its Vega-Lite spec is stored) answers 202 with `Retry-After`, and
the figure task is asked to draw it.
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import RunDep, SessionDep, StateDep, principal_of, visible_run
from api.errors import not_found
from api.schemas import ArtifactList, ArtifactOut
from api.signing import signed_url, verify
from persistence.queue import send_figures
from persistence.repo import artifacts as repo

router = APIRouter(prefix="/v1/runs", tags=["artifacts"])


def _path(run_id: str, name: str) -> str:
    return f"/v1/runs/{run_id}/artifacts/{name}"


@router.get("/{run_id}/artifacts", response_model=ArtifactList,
            summary="A run's artifacts; each url downloads the bytes (signed, short-lived)")
def list_artifacts(request: Request, state: StateDep, session: SessionDep, run: RunDep):
    run_id = run.id
    key, ttl = state.settings.signing_key(), state.settings.url_ttl_seconds
    arts = repo.list_for_run(session, run_id)
    return ArtifactList(items=[
        ArtifactOut(name=a.name, kind=a.kind, size=a.size, sha256=a.sha256, content_type=a.content_type,
                    url=str(request.base_url).rstrip("/") + signed_url(key, _path(run_id, a.name), ttl))
        for a in arts
    ])


@router.get("/{run_id}/artifacts/{name:path}", summary="Download an artifact's bytes", response_class=StreamingResponse,
            responses={200: {"description": "the artifact's bytes, with its content type",
                             "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                       202: {"description": "a figure the worker is drawing now; retry after `Retry-After` seconds"},
                       403: {"description": "bad or expired signature"}, 404: {"description": "unknown run or artifact"}})
def download_artifact(
    request: Request,
    state: StateDep,
    session: SessionDep,
    run_id: str,
    name: str,
    expires: Annotated[Optional[int], Query()] = None,
    sig: Annotated[Optional[str], Query(max_length=128)] = None,
):
    if sig is not None or expires is not None:
        if sig is None or expires is None or not verify(state.settings.signing_key(), _path(run_id, name), expires, sig):
            raise HTTPException(403, "the download link is invalid or has expired; list the artifacts again")
        run = visible_run(session, None, run_id)
    else:
        run = visible_run(session, principal_of(state, request.headers.get("authorization")), run_id)
    art = repo.get(session, run_id, name)  # the name is looked up, never joined into a path
    if art is None:
        stem, dot, ext = name.rpartition(".")
        if dot and ext in ("png", "svg") and stem.startswith("figures/") and repo.get(session, run_id, f"{stem}.vl.json"):
            send_figures(state.celery, run.experiment_id, [run_id])
            return JSONResponse(status_code=202, headers={"Retry-After": "2"}, content={
                "detail": f"{name} is being drawn by the worker; retry shortly", "run_id": run_id, "name": name})
        raise not_found("artifact", name)
    return StreamingResponse(
        state.store.open(art.uri),  # uri = the object store key the worker wrote
        media_type=art.content_type,
        headers={"Content-Length": str(art.size), "ETag": f'"{art.sha256}"',
                 "Content-Disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"'},
    )
