"""`runs.claim_siblings` on SQLite and Postgres: only queued runs of the same experiment whose spec
differs by the seed alone are leased, up to the limit; their own deliveries then find them leased."""

from __future__ import annotations

import pytest

from persistence import schema
from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Experiment, Run
from persistence.repo import runs as run_repo

SPEC = {"name": "e", "model": {"family": "plain_mlp", "depth": 2}, "train": {"epochs": 2}}


def _spec(seed: int, depth: int = 2) -> dict:
    return {**SPEC, "model": {"family": "plain_mlp", "depth": depth}, "seeds": [seed]}


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}" if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url")
    schema.upgrade(url)
    engine = make_engine(url, pool_size=2)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_claims_queued_seed_siblings_only_up_to_the_limit(sessions):
    with session_scope(sessions) as s:
        s.add(Experiment(id="x", name="e", spec=SPEC, spec_hash="h"))
        s.add(Experiment(id="y", name="other", spec=SPEC, spec_hash="h2"))
        s.flush()
        rows = [("r0", "x", 0, _spec(0)), ("r1", "x", 1, _spec(1)), ("r2", "x", 2, _spec(2)),
                ("r3", "x", 3, _spec(3)), ("d", "x", 4, _spec(0, depth=3)), ("c", "x", 5, _spec(5)),
                ("o", "y", 0, _spec(1))]
        for rid, exp, i, spec in rows:
            s.add(Run(id=rid, experiment_id=exp, index=i, seed=spec["seeds"][0], spec=spec,
                      cancel_requested=rid == "c"))
    with session_scope(sessions) as s:
        assert run_repo.claim(s, "r0", "w1", lease_seconds=30, max_attempts=3).reason == "claimed"
    with session_scope(sessions) as s:
        got = run_repo.claim_siblings(s, "r0", "w1", limit=2, max_attempts=3)
    assert got == ["r1", "r2"]  # index order; not the other depth, the cancelled one or another experiment
    with session_scope(sessions) as s:
        for rid in got:
            run = run_repo.get(s, rid)
            assert (run.status, run.lease_owner, run.attempts) == ("running", "w1", 1)
            assert run.started_at is not None
        # a sibling's own delivery (here on another worker) finds it leased and does nothing
        assert run_repo.claim(s, "r1", "w2", lease_seconds=30, max_attempts=3).reason == "leased"
        assert run_repo.get(s, "r3").status == "queued" and run_repo.get(s, "d").status == "queued"
    with session_scope(sessions) as s:
        assert run_repo.claim_siblings(s, "r0", "w1", limit=8, max_attempts=3) == ["r3"]
    with session_scope(sessions) as s:
        assert run_repo.claim_siblings(s, "r0", "w1", limit=8, max_attempts=3) == []
