"""ORM rows to response models."""

from __future__ import annotations

from typing import Optional

from fastapi import Response
from pydantic import BaseModel

from api.schemas import ExperimentOut, Progress, RunOut, iso
from persistence.models import STATUSES, Experiment, Run

NO_ETA = frozenset({"cancelling", "cancelled", "failed"})  # runs that will not train to the end


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id,
        experiment_id=run.experiment_id,
        status=run.status,
        seed=run.seed,
        params=run.params or {},
        created_at=iso(run.created_at),
        started_at=iso(run.started_at),
        finished_at=iso(run.finished_at),
        progress=Progress(
            epoch=run.epoch or 0,
            epochs=run.epochs or 0,
            fraction=(run.epoch or 0) / run.epochs if run.epochs else None,
            eta_seconds=None if run.status in NO_ETA else run.eta_seconds,
        ),
        summary=run.summary or {},
        error=run.error,
        attempts=run.attempts or 0,
        resumes=run.resumes or 0,
        index=run.index,
    )


def experiment_out(exp: Experiment) -> ExperimentOut:
    return ExperimentOut(
        id=exp.id,
        name=exp.name,
        status=exp.status,
        created_at=iso(exp.created_at) or "",
        started_at=iso(exp.started_at),
        finished_at=iso(exp.finished_at),
        spec=exp.spec,
        runs=[run_out(r) for r in exp.runs],
        run_counts=run_counts(exp.runs),
        error=exp.error,
        owner=exp.owner,
    )


def run_counts(runs) -> dict[str, int]:
    """How many runs are in each status (every status named, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def json_response(model: BaseModel, status_code: int = 200, headers: Optional[dict[str, str]] = None) -> Response:
    """`model` as the JSON body, written by pydantic in the route's own thread. A route that
    returns the model itself has FastAPI validate it against the route's `response_model` again
    and then encode it, in one more trip to the thread pool for a `def` route."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers)
