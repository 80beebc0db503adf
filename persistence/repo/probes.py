"""Probe results of a run: one row per (run, probe name), written again when a run is retried."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence.models import ProbeResult, utcnow


def record(session: Session, run_id: str, name: str, status: str, result: dict[str, Any],
           error: Optional[str]) -> None:
    """Insert or replace the result of probe `name` of a run."""
    row = session.get(ProbeResult, (run_id, name))
    if row is None:
        session.add(ProbeResult(run_id=run_id, name=name, status=status, result=result, error=error))
    else:
        row.status, row.result, row.error, row.updated_at = status, result, error, utcnow()


def for_run(session: Session, run_id: str) -> list[ProbeResult]:
    """Every probe result of a run, by name."""
    return list(session.scalars(select(ProbeResult).where(ProbeResult.run_id == run_id).order_by(ProbeResult.name)))


def get(session: Session, run_id: str, name: str) -> Optional[ProbeResult]:
    return session.get(ProbeResult, (run_id, name))


def names(session: Session, run_id: str) -> list[str]:
    """The names of a run's recorded probe results."""
    return list(session.scalars(select(ProbeResult.name).where(ProbeResult.run_id == run_id)))
