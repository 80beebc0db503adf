"""`GET /`: the front page. Experiments newest first with their status, a progress bar and an ETA,
links to each one's report page and runs, a filter by status and a link to `/docs`.

Server-rendered from a Jinja2 template (`api/templates/front.html`, autoescaped; no build step).
The page refreshes itself lightly: `api/static/front.js` fetches the same URL every few seconds
and swaps the table in, so there is one renderer (this module) for the first view and the updates.
It reads experiments with the caller's key like every other route (401 without one when
authentication is on); it shows only the caller's own experiments unless the key is an admin's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Optional

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.convert import run_counts
from api.deps import ReadKey, SessionDep, StateDep
from api.errors import FieldProblem
from api.pages import TEMPLATES
from api.schemas import iso
from persistence.models import FINISHED, STATUSES, Experiment, Run
from persistence.repo import experiments as repo

router = APIRouter(tags=["pages"])

PAGE_SIZE = 50
REFRESH_SECONDS = 3
CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'self'")


def eta_text(seconds: Optional[float]) -> str:
    """An ETA as people read it: 42 s, 3 min 05 s, 1 h 12 min; an em dash when unknown."""
    if seconds is None:
        return "—"
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass
class RunView:
    id: str
    seed: int
    params: str
    status: str
    epoch: int
    epochs: int
    percent: float
    eta: str


@dataclass
class ExperimentView:
    id: str
    name: str
    status: str
    created_at: str
    finished: bool
    percent: float  # epochs done over epochs planned, across its runs
    eta: str
    counts: str  # "2 succeeded, 1 running"
    error: Optional[str]
    runs: list[RunView] = field(default_factory=list)


def _percent(done: int, total: int) -> float:
    return round(100.0 * min(done, total) / total, 1) if total else 0.0


def run_view(r: Run) -> RunView:
    return RunView(id=r.id, seed=r.seed, status=r.status, epoch=r.epoch or 0, epochs=r.epochs or 0,
                   params=", ".join(f"{k}={json.dumps(v)}" for k, v in (r.params or {}).items()) or "—",
                   percent=100.0 if r.status == "succeeded" else _percent(r.epoch or 0, r.epochs or 0),
                   eta=eta_text(r.eta_seconds) if r.status == "running" else "—")  # a stopping run has none


def experiment_view(e: Experiment) -> ExperimentView:
    runs = [run_view(r) for r in e.runs]
    # a run that stopped early (cancelled, failed) counts for the epochs it trained, so a finished
    # experiment is at 100%
    done = sum(r.epochs if r.status == "succeeded" else r.epoch for r in runs)
    planned = sum(r.epoch if r.status in FINISHED - {"succeeded"} else r.epochs for r in runs)
    counts = run_counts(e.runs)
    running = [r.eta_seconds for r in e.runs if r.status == "running" and r.eta_seconds is not None]
    eta = "—"
    if e.status not in FINISHED and running:
        eta = eta_text(max(running)) + (f" + {counts['queued']} queued" if counts["queued"] else "")
    elif e.status not in FINISHED and counts["queued"]:
        eta = f"{counts['queued']} queued"
    return ExperimentView(
        id=e.id, name=e.name, status=e.status, created_at=(iso(e.created_at) or "").replace("T", " ")[:16] + " UTC",
        finished=e.status in FINISHED, percent=100.0 if e.status in FINISHED else _percent(done, planned), eta=eta,
        counts=", ".join(f"{n} {s}" for s, n in counts.items() if n), error=e.error, runs=runs)


@router.get("/", response_class=HTMLResponse, summary="The front page: experiments newest first, with live progress",
            responses={401: {"description": "authentication is on and no API key was sent"}})
def front_page(
    state: StateDep,
    session: SessionDep,
    principal: ReadKey,
    status: Annotated[Optional[str], Query(description="show only experiments in this status")] = None,
) -> HTMLResponse:
    if status is not None and status not in STATUSES:
        raise FieldProblem([{"field": "status", "message": f"must be one of {', '.join(STATUSES)}", "type": "enum"}])
    items, more = repo.list_page(session, owner=principal.owner_filter, status=status, limit=PAGE_SIZE)
    page = TEMPLATES.get_template("front.html").render(
        experiments=[experiment_view(e) for e in items], statuses=STATUSES, status=status, more=more is not None,
        page_size=PAGE_SIZE, refresh_seconds=REFRESH_SECONDS, auth_on=state.settings.require_auth)
    return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})
