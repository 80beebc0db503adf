"""Artifacts: checkpoints, figures and data files stored in the object store, indexed here."""

from __future__ import annotations

import uuid
from typing import Optional

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from persistence.models import Artifact


def record(
    session: Session,
    *,
    run_id: str,
    name: str,
    kind: str,
    size: int,
    sha256: str,
    uri: str,
    content_type: str = "application/octet-stream",
) -> None:
    """Insert or replace the artifact `name` of a run (a retried run overwrites, never duplicates)."""
    values = dict(id=uuid.uuid4().hex, run_id=run_id, name=name, kind=kind, size=size, sha256=sha256, uri=uri,
                  content_type=content_type)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Artifact).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "name"],
        set_={k: stmt.excluded[k] for k in ("kind", "size", "sha256", "uri", "content_type")},
    )
    session.execute(stmt)


def list_for_run(session: Session, run_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.name)))


def get(session: Session, run_id: str, name: str) -> Optional[Artifact]:
    return session.scalars(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name)).first()
