"""Probe results of a run."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import RunDep, SessionDep
from api.errors import not_found
from api.schemas import ProbeList, ProbeOut
from persistence.models import ProbeResult

router = APIRouter(prefix="/v1/runs", tags=["probes"])


def _out(p: ProbeResult) -> ProbeOut:
    return ProbeOut(name=p.name, status=p.status, result=p.result or {}, error=p.error)


@router.get("/{run_id}/probes", response_model=ProbeList, summary="All probe results of a run")
def list_probes(run: RunDep, session: SessionDep):
    rows = session.scalars(select(ProbeResult).where(ProbeResult.run_id == run.id).order_by(ProbeResult.name))
    return ProbeList(items=[_out(p) for p in rows])


@router.get("/{run_id}/probes/{name}", response_model=ProbeOut, summary="One probe result",
            responses={404: {"description": "no such probe result (yet)"}})
def get_probe(run: RunDep, session: SessionDep, name: str):
    p = session.get(ProbeResult, (run.id, name))
    if p is None:
        raise not_found("probe result", name)
    return _out(p)
