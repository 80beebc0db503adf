"""Probe results of a run."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import RunDep, SessionDep
from api.errors import unknown_name
from api.schemas import ProbeList, ProbeOut
from persistence.models import ProbeResult
from persistence.repo import probes as repo

router = APIRouter(prefix="/v1/runs", tags=["probes"])


def _out(p: ProbeResult) -> ProbeOut:
    return ProbeOut(name=p.name, status=p.status, result=p.result or {}, error=p.error)


@router.get("/{run_id}/probes", response_model=ProbeList, summary="All probe results of a run")
def list_probes(run: RunDep, session: SessionDep):
    return ProbeList(items=[_out(p) for p in repo.for_run(session, run.id)])


@router.get("/{run_id}/probes/{name}", response_model=ProbeOut, summary="One probe result",
            responses={404: {"description": "no such probe result (yet); the detail names the probes of the run"}})
def get_probe(run: RunDep, session: SessionDep, name: str):
    p = repo.get(session, run.id, name)
    if p is None:
        asked = [q.get("name") for q in (run.spec or {}).get("probes") or [] if q.get("name")]
        if name in asked:
            raise HTTPException(404, f"probe result {name!r} not found yet: the run has not finished that probe")
        raise unknown_name("probe result", name, sorted(set(repo.names(session, run.id)) | set(asked)), where="this run")
    return _out(p)
