"""API keys: stored as SHA-256 hashes, never in plain text. Tokens look like `sk_<prefix>_<secret>`."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence.models import ApiKey, utcnow

SCOPES = ("read", "write", "admin")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, owner: str, scope: str) -> tuple[ApiKey, str]:
    """Store a new key; returns (row, token). The token is shown once and never stored."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not owner or len(owner) > 200:
        raise ValueError("owner must be 1 to 200 characters")
    prefix = secrets.token_hex(4)
    token = f"sk_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=uuid.uuid4().hex, owner=owner, scope=scope, key_hash=_hash(token), prefix=prefix)
    session.add(row)
    session.flush()
    return row, token


def lookup(session: Session, token: str) -> Optional[ApiKey]:
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


def revoke(session: Session, key_id: str) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
