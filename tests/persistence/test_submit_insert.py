"""The submit path's keyed INSERT (`insert_new` with an Idempotency-Key), on SQLite and Postgres: it
writes the experiment with its typed values (JSON spec, UTC time), answers None for a reused key
without writing, and is compiled once and then served from SQLAlchemy's statement cache (the
dialect `insert().on_conflict_do_nothing()` it replaces has no cache key: compiled per request)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.engine.default import CACHE_HIT

from persistence.db import session_scope
from persistence.models import Experiment
from persistence.repo import experiments as repo


def _insert(db, owner: str, key: str, spec: dict):
    with session_scope(db) as s:
        new = repo.insert_new(s, name="keyed", spec=spec, runs=[(0, {}, {"train": {"epochs": 2}})], owner=owner,
                              idempotency_key=key, body_hash="h")
        return None if new is None else new.experiment.id


def test_keyed_insert_is_cached_typed_and_idempotent(db):
    owner = f"o-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, str]] = []

    def after(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EXPERIMENTS"):
            seen.append((statement, context.cache_hit))

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        spec = {"name": "x", "nested": {"a": [1, 2.5, None]}}
        ids = [_insert(db, owner, f"k{i}", spec) for i in range(3)]
        again = _insert(db, owner, "k1", {"other": True})
    finally:
        event.remove(db.engine, "after_cursor_execute", after)
    assert all(ids) and len(set(ids)) == 3 and again is None
    hits = [h for _, h in seen]
    assert len(seen) == 4 and all(h == CACHE_HIT for h in hits[1:]), hits  # compiled once, then reused
    with session_scope(db) as s:
        rows = s.execute(select(Experiment).where(Experiment.owner == owner).order_by(Experiment.idempotency_key)).scalars().all()
        assert [r.idempotency_key for r in rows] == ["k0", "k1", "k2"]
        assert all(r.spec == spec for r in rows)  # the key reused with another body wrote nothing
        assert all(r.created_at.tzinfo is not None and r.status == "queued" for r in rows)
        assert [len(r.runs) for r in rows] == [1, 1, 1]


def test_the_insert_counts_the_owners_other_experiments_of_the_last_minute(db):
    """The count the submission limit reads comes from the INSERT itself: the owner's other
    experiments of the last 60 s, capped, the new one left out (a subquery in RETURNING sees the
    new row on SQLite and not on Postgres), other owners and older experiments not counted."""
    owner, other = (f"o-{uuid.uuid4().hex[:8]}" for _ in range(2))

    def insert(who: str, key=None) -> int:
        with session_scope(db) as s:
            new = repo.insert_new(s, name="n", spec={}, runs=[], owner=who, idempotency_key=key, recent_cap=2)
            return new.recent

    with session_scope(db) as s:  # an experiment of the owner from two minutes ago
        old = repo.create(s, name="old", spec={}, runs=[], owner=owner)
        old_id = old.id
    with session_scope(db) as s:
        s.get(Experiment, old_id).created_at -= timedelta(minutes=2)
    assert [insert(owner, "a"), insert(owner), insert(owner, "b"), insert(owner)] == [0, 1, 2, 2]
    assert insert(other) == 0 and insert(other, "a") == 1
