"""Rollups kept at write time: incremental == rebuilt from scratch, overwrites, fallback, no FK."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from persistence import schema
from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Experiment, Run
from persistence.repo import metrics, rollup

from .conftest import new_run
from .test_metrics_repo import T0, all_points, bulk_load, check_downsample, write


def rollup_rows(db, run_id):
    with session_scope(db) as s:
        return sorted(s.execute(text(
            "SELECT key, level, bucket, min_step, min_value, min_time, max_step, max_value, max_time "
            "FROM metric_rollups WHERE run_id = :r"), {"r": run_id}).all())


def rebuilt_rows(db, run_id):
    """The rollups recomputed in SQL from the stored points alone."""
    with session_scope(db) as s:
        s.execute(text("DELETE FROM metric_rollups WHERE run_id = :r"), {"r": run_id})
        for key in metrics.keys(s, run_id):
            rollup.rebuild(s, run_id, key)
    return rollup_rows(db, run_id)


def test_incremental_rollups_equal_a_rebuild(db, run_id):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 1000, size=6000).astype(float)  # ties: smallest step wins both ways
    values[17] = np.nan
    values[4000] = np.inf
    for start in range(0, 6000, 777):  # batches cut across bucket boundaries, two keys
        write(db, run_id, [(k, st, float(values[st]) * (1 if k == "a" else -1), T0 + st)
                           for st in range(start, min(6000, start + 777)) for k in ("a", "b")])
    incremental = rollup_rows(db, run_id)
    assert len(incremental) > 2 * 6000 // 16
    assert incremental == rebuilt_rows(db, run_id)


def test_overwriting_an_extreme_rebuilds_its_buckets(db, run_id):
    write(db, run_id, [("loss", st, float(st % 50), T0) for st in range(3000)])
    write(db, run_id, [("loss", 1234, 1e9, T0)])  # resumed run re-writes a step with a spike
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 100)
    assert (1234, 1e9, T0) in pts
    write(db, run_id, [("loss", st, 7.0, T0 + 1) for st in range(1200, 1300)])  # and back down
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 100)
    assert all(v < 1e9 for _, v, _ in pts)
    assert rollup_rows(db, run_id) == rebuilt_rows(db, run_id)
    assert len(all_points(db, run_id, "loss")) == 3000  # no duplicates


def test_downsample_without_rollups_falls_back_to_the_aggregate(db, run_id):
    rng = np.random.default_rng(5)
    values = np.cumsum(rng.normal(size=10_000))
    bulk_load(db, run_id, "loss", values, rollups=False)
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 200)
    check_downsample(pts, values, 200)


def test_concurrent_copy_conflict_falls_back_to_upsert(db, run_id):
    """Steps already stored but not yet in latest_metrics (another writer's transaction): the
    fast COPY meets a unique violation, rolls back to its savepoint, and upserts instead."""
    with session_scope(db) as s:
        s.execute(text("INSERT INTO metric_points (run_id, key, step, value, time) VALUES (:r, 'loss', 5, 1.0, :t)"),
                  {"r": run_id, "t": T0})
    write(db, run_id, [("loss", st, float(st), T0) for st in range(300)])
    pts = all_points(db, run_id, "loss")
    assert [p[0] for p in pts] == list(range(300)) and pts[5] == (5, 5.0, T0)
    assert rollup_rows(db, run_id) == rebuilt_rows(db, run_id)


def test_points_for_an_unknown_run_are_refused_whole(db):
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # the raw driver's IntegrityError
        write(db, "0" * 32, [("loss", st, 1.0, T0) for st in range(500)])
    with session_scope(db) as s:
        assert s.execute(text("SELECT count(*) FROM metric_points WHERE run_id = :r"), {"r": "0" * 32}).scalar() == 0


def test_deleting_an_experiment_deletes_its_points_and_rollups(db):
    run_id = new_run(db)
    write(db, run_id, [("loss", st, 1.0, T0) for st in range(100)])
    with session_scope(db) as s:
        s.delete(s.get(Experiment, run_id))  # cascades to the run, whose trigger deletes the metrics
    with session_scope(db) as s:
        for table in ("metric_points", "metric_rollups", "latest_metrics"):
            n = s.execute(text(f"SELECT count(*) FROM {table} WHERE run_id = :r"), {"r": run_id}).scalar()
            assert n == 0, table


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_backfills_rollups_of_existing_points(request, backend):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "fresh_pg_url")
    schema.upgrade(url, "0001")
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        with session_scope(factory) as s:
            s.add(Experiment(id="e" * 32, name="t", spec={}, spec_hash="h"))
            s.flush()
            s.add(Run(id="r" * 32, experiment_id="e" * 32, index=0, seed=0, spec={}))
            s.flush()
            s.execute(text("INSERT INTO metric_points VALUES (:r, 'loss', :s, :v, :t)"),
                      [{"r": "r" * 32, "s": st, "v": float((st * 37) % 101), "t": T0} for st in range(2000)])
        schema.upgrade(url)
        factory.dialect = backend  # type: ignore[attr-defined]
        before = rollup_rows(factory, "r" * 32)
        assert before and before == rebuilt_rows_for(factory, "r" * 32, "loss")
    finally:
        engine.dispose()


def rebuilt_rows_for(db, run_id, key):
    with session_scope(db) as s:
        s.execute(text("DELETE FROM metric_rollups WHERE run_id = :r"), {"r": run_id})
        rollup.rebuild(s, run_id, key)
    return rollup_rows(db, run_id)


@pytest.mark.parametrize("bounds", [(1000, 3999), (1, 19_998), (17, 4113), (4096, 8191), (5, 60), (12_345, 12_999)])
def test_step_bounded_downsample_uses_rollups_and_keeps_the_contract(db, run_id, bounds, monkeypatch):
    rng = np.random.default_rng(bounds[0])
    values = np.cumsum(rng.normal(size=20_000))
    values[rng.integers(0, 20_000, size=5)] = np.nan
    bulk_load(db, run_id, "loss", values)
    lo, hi = bounds
    calls = []
    fetch = metrics._fetch
    monkeypatch.setattr(metrics, "_fetch", lambda *a, **k: calls.append(a[1]) or fetch(*a, **k))
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 100, step_min=lo, step_max=hi)
    check_downsample(pts, values[lo : hi + 1], 100, first=lo)
    if hi - lo + 1 > 100:
        assert len(calls) == 2 and "metric_rollups" in calls[1]
