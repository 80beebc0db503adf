"""The per-run event log the SSE stream replays: status, progress and metric events."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence.models import RunEvent


def append(session: Session, run_id: str, kind: str, data: dict[str, Any]) -> None:
    session.add(RunEvent(run_id=run_id, kind=kind, data=data))


def since(session: Session, run_id: str, after_id: Optional[int], limit: int = 500) -> list[RunEvent]:
    stmt = select(RunEvent).where(RunEvent.run_id == run_id)
    if after_id is not None:
        stmt = stmt.where(RunEvent.id > after_id)
    return list(session.scalars(stmt.order_by(RunEvent.id).limit(limit)))
