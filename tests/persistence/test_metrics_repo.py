"""Metric repo on SQLite and Postgres: upserts, latest values, keyset pages, SQL downsampling."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from sqlalchemy import select, text

from persistence.db import session_scope
from persistence.repo import metrics, rollup
from persistence.repo.metric_writes import normalise_sql

from .conftest import new_run

T0 = 1.7e9


def write(db, run_id, points, **kw):
    with session_scope(db) as s:
        return metrics.upsert_points(s, run_id, points, **kw)


def all_points(db, run_id, key, limit=1000, **kw):
    out, cursor = [], None
    with session_scope(db) as s:
        while True:
            page, cursor = metrics.history(s, run_id, key, after_step=cursor, limit=limit, **kw)
            out += page
            if cursor is None:
                return out


def bulk_load(db, run_id, key, values: np.ndarray, rollups: bool = True) -> None:
    """Fast test-only load of a long history (steps 0..n-1), bypassing the upsert path; then the
    rollups are built in SQL as the migration's backfill does (unless `rollups=False`)."""
    n = len(values)
    steps = np.arange(n, dtype=np.int64)
    times = T0 + steps.astype(np.float64)
    with session_scope(db) as s:
        conn = s.connection().connection.driver_connection
        if db.dialect == "postgresql":
            # binary COPY rows built by numpy in one buffer; replica role skips the per-row FK trigger
            rid, k = run_id.encode(), key.encode()
            row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("run", f"S{len(rid)}"), ("l2", ">i4"), ("key", f"S{len(k)}"),
                            ("l3", ">i4"), ("step", ">i8"), ("l4", ">i4"), ("value", ">f8"), ("l5", ">i4"), ("time", ">f8")])
            rows = np.zeros(n, dtype=row)
            rows["n"], rows["l1"], rows["run"], rows["l2"], rows["key"] = 5, len(rid), rid, len(k), k
            rows["l3"], rows["l4"], rows["l5"] = 8, 8, 8
            rows["step"], rows["value"], rows["time"] = steps, values, times
            payload = b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff"
            cur = conn.cursor()
            cur.execute("SET LOCAL session_replication_role = replica")
            with cur.copy("COPY metric_points (run_id, key, step, value, time) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
        else:
            stored = ["NaN" if v != v else v for v in values.tolist()]  # sqlite3 would bind NaN as NULL
            conn.executemany(
                "INSERT INTO metric_points (run_id, key, step, value, time) VALUES (?, ?, ?, ?, ?)",
                zip([run_id] * n, [key] * n, steps.tolist(), stored, times.tolist()),
            )
        # non-finite values loaded natively, then made portable as the migration does
        s.execute(text(normalise_sql(db.dialect, "metric_points")))
        if rollups:
            rollup.rebuild(s, run_id, key)


@pytest.mark.parametrize("method", ["copy", "values"])
def test_upsert_is_idempotent_last_write_wins(db, run_id, method):
    write(db, run_id, [("loss", 1, 1.0, T0), ("loss", 2, 2.0, T0)], method=method)
    write(db, run_id, [("loss", 1, 1.0, T0), ("loss", 2, 2.0, T0)], method=method)
    write(db, run_id, [("loss", 1, 10.0, T0 + 5)], method=method)
    # duplicates inside one batch collapse: the last one wins
    write(db, run_id, [("loss", 3, 3.0, T0), ("loss", 3, 30.0, T0 + 1)], method=method)
    assert all_points(db, run_id, "loss") == [(1, 10.0, T0 + 5), (2, 2.0, T0), (3, 30.0, T0 + 1)]


def test_copy_and_values_paths_agree(db):
    rng = np.random.default_rng(0)
    pts = [(f"k{i % 3}", i // 3, float(v), T0 + i) for i, v in enumerate(rng.normal(size=3000))]
    a, b = new_run(db), new_run(db)
    assert write(db, a, pts, method="copy") == write(db, b, pts, method="values") == 3000
    for key in ("k0", "k1", "k2"):
        assert all_points(db, a, key) == all_points(db, b, key)


def test_latest_metrics_moves_forward_only(db, run_id):
    write(db, run_id, [("loss", 5, 0.5, T0), ("loss", 3, 0.3, T0), ("acc", 1, 0.1, T0)])
    write(db, run_id, [("loss", 4, 0.4, T0)])  # an older step never replaces the latest
    write(db, run_id, [("acc", 2, 0.2, T0)])
    other = new_run(db)
    with session_scope(db) as s:
        assert metrics.keys(s, run_id) == ["acc", "loss"]
        assert metrics.latest(s, [run_id, other]) == {run_id: {"loss": 0.5, "acc": 0.2}, other: {}}
    write(db, run_id, [("loss", 5, 0.55, T0)])  # the same step again updates it
    with session_scope(db) as s:
        assert metrics.latest(s, [run_id])[run_id]["loss"] == 0.55


@pytest.mark.parametrize("limit", [1, 7, 100, 5000])
def test_keyset_pages_return_every_point_once(db, run_id, limit):
    steps = list(range(0, 2345 * 3, 3))  # gaps between steps
    write(db, run_id, [("loss", st, float(st), T0 + st) for st in steps])
    seen, cursor, pages = [], None, 0
    with session_scope(db) as s:
        while True:
            page, nxt = metrics.history(s, run_id, "loss", after_step=cursor, limit=limit)
            assert len(page) <= limit
            assert nxt is None or nxt == page[-1][0]
            seen += [p[0] for p in page]
            pages += 1
            if nxt is None:
                break
            cursor = nxt
    assert seen == steps
    assert pages == math.ceil(len(steps) / limit)


def test_history_step_range(db, run_id):
    write(db, run_id, [("loss", st, float(st), T0) for st in range(100)])
    pts = all_points(db, run_id, "loss", limit=7, step_min=10, step_max=39)
    assert [p[0] for p in pts] == list(range(10, 40))


def test_non_finite_values_are_stored_and_read_as_none(db, run_id):
    nan, inf = float("nan"), float("inf")
    write(db, run_id, [("loss", 0, 1.0, T0), ("loss", 1, nan, T0), ("loss", 2, inf, T0), ("loss", 3, -inf, T0)])
    write(db, run_id, [("gnorm", 9, nan, T0)])
    pts = all_points(db, run_id, "loss")
    assert pts == [(0, 1.0, T0), (1, None, T0), (2, None, T0), (3, None, T0)]
    with session_scope(db) as s:
        assert metrics.latest(s, [run_id])[run_id] == {"loss": None, "gnorm": None}
        assert metrics.downsample(s, run_id, "loss", 10) == pts
    json.dumps(pts, allow_nan=False)
    # overwrite a NaN with a number
    write(db, run_id, [("loss", 1, 2.0, T0)])
    assert all_points(db, run_id, "loss")[1] == (1, 2.0, T0)


def test_downsample_small_history_is_returned_whole(db, run_id):
    write(db, run_id, [("loss", st, float(st), T0) for st in range(50)])
    with session_scope(db) as s:
        assert metrics.downsample(s, run_id, "loss", 50) == all_points(db, run_id, "loss")
        assert metrics.downsample(s, run_id, "nope", 50) == []


def count_queries(monkeypatch):
    """Every query of the metrics repo's hot reads goes through `_fetch`: count them."""
    calls, fetch = [], metrics._fetch

    def counted(*args, **kwargs):
        calls.append(args[1])
        return fetch(*args, **kwargs)

    monkeypatch.setattr(metrics, "_fetch", counted)
    return calls


def check_downsample(pts, values, max_points, first=0):
    steps = [p[0] for p in pts]
    assert 0 < len(pts) <= max_points
    assert steps == sorted(set(steps))
    assert steps[0] == first and steps[-1] == first + len(values) - 1
    finite = np.where(np.isfinite(values), values, np.nan)
    assert int(np.nanargmin(finite)) + first in steps
    assert int(np.nanargmax(finite)) + first in steps
    for st, v, _ in pts:
        got, want = v, values[st - first]
        assert (got is None and not math.isfinite(want)) or got == want


@pytest.mark.parametrize("max_points", [4, 5, 100, 1000])
def test_downsample_keeps_first_last_min_max(db, run_id, max_points):
    rng = np.random.default_rng(max_points)
    values = np.cumsum(rng.normal(size=20_000))
    values[0] = np.nan  # the first point is kept whatever its value
    values[rng.integers(1, 20_000)] = 1e6  # a spike
    values[rng.integers(1, 20_000)] = -1e6
    values[rng.integers(1, 20_000)] = np.inf  # never a bucket's max
    bulk_load(db, run_id, "loss", values)
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", max_points)
    check_downsample(pts, values, max_points)
    json.dumps(pts, allow_nan=False)


def test_downsample_step_range(db, run_id):
    values = np.sin(np.arange(5000) / 100.0)
    bulk_load(db, run_id, "loss", values)
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 100, step_min=1000, step_max=3999)
    check_downsample(pts, values[1000:4000], 100, first=1000)


def test_downsample_million_points_in_two_round_trips(db, run_id, monkeypatch):
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=1_000_000))
    t = time.perf_counter()
    bulk_load(db, run_id, "loss", values)
    print(f"bulk load {time.perf_counter() - t:.1f}s")
    calls = count_queries(monkeypatch)
    t = time.perf_counter()
    with session_scope(db) as s:
        pts = metrics.downsample(s, run_id, "loss", 1000)
    elapsed = time.perf_counter() - t
    check_downsample(pts, values, 1000)
    assert len(calls) == 2, "downsample must take one or two round trips"
    print(f"downsample {elapsed:.2f}s")
    assert elapsed < 10, f"downsample of 10^6 points took {elapsed:.1f}s"


def test_downsample_rejects_tiny_max_points(db, run_id):
    with session_scope(db) as s, pytest.raises(ValueError, match="max_points"):
        metrics.downsample(s, run_id, "loss", 1)


def test_layer_stats_upsert_filter_and_matrix(db, run_id):
    rows = [(name, st, [st * 1.0, st + 0.5, float("nan")]) for name in ("grad_norm", "w_abs") for st in range(0, 100, 10)]
    with session_scope(db) as s:
        metrics.upsert_layer_stats(s, run_id, rows)
        metrics.upsert_layer_stats(s, run_id, [("w_abs", 50, [9.0, 9.0, 9.0])])  # overwrite one step
    with session_scope(db) as s:
        got = metrics.layer_stats(s, run_id, limit=1000)
        assert [(n, st) for n, st, _ in got] == sorted((n, st) for n, st, _ in rows)
        assert got[0][2] == [0.0, 0.5, None]
        assert metrics.layer_stats(s, run_id, name="w_abs", step=50) == [("w_abs", 50, [9.0, 9.0, 9.0])]
        assert [st for _, st, _ in metrics.layer_stats(s, run_id, step=20)] == [20, 20]
        page = metrics.layer_stats(s, run_id, after=("grad_norm", 90), limit=2)
        assert [(n, st) for n, st, _ in page] == [("w_abs", 0), ("w_abs", 10)]
        full = metrics.layer_matrix(s, run_id, "grad_norm")
        assert full.steps == list(range(0, 100, 10)) and full.values[3] == [30.0, 30.5, None]
        for m in (2, 3, 4, 9, 10, 50):
            small = metrics.layer_matrix(s, run_id, "grad_norm", max_steps=m)
            assert len(small.steps) == min(m, 10)
            assert small.steps[0] == 0 and small.steps[-1] == 90 and small.steps == sorted(small.steps)
            assert all(len(v) == 3 for v in small.values)
        assert metrics.layer_matrix(s, run_id, "nope", max_steps=5) == ([], [])


@pytest.mark.parametrize("method", ["copy", "values"])
def test_nan_and_infinities_round_trip_as_floats_through_the_orm(db, run_id, method):
    """Stored portably (a finite value and a nonfinite code): an ORM read is a float on SQLite
    and Postgres alike, never the text 'NaN', and decodes back to NaN, +inf, -inf."""
    from persistence.models import LatestMetric, MetricPoint, decode_value

    nan, inf = float("nan"), float("inf")
    write(db, run_id, [("loss", 0, 1.5, T0), ("loss", 1, nan, T0), ("loss", 2, inf, T0), ("loss", 3, -inf, T0),
                       ("last", 7, -inf, T0)], method=method)
    with session_scope(db) as s:
        rows = s.execute(select(MetricPoint.value, MetricPoint.nonfinite).where(MetricPoint.run_id == run_id,
                                                                                MetricPoint.key == "loss")
                         .order_by(MetricPoint.step)).all()
        assert all(type(v) is float and math.isfinite(v) for v, _ in rows), rows
        back = [decode_value(v, code) for v, code in rows]
        assert back[0] == 1.5 and math.isnan(back[1]) and back[2:] == [inf, -inf], back
        latest = s.get(LatestMetric, (run_id, "last"))
        assert type(latest.value) is float and decode_value(latest.value, latest.nonfinite) == -inf
    # re-written to a finite number, the code goes
    write(db, run_id, [("loss", 1, 2.0, T0)], method=method)
    with session_scope(db) as s:
        assert s.get(MetricPoint, (run_id, "loss", 1)).nonfinite is None
    assert all_points(db, run_id, "loss")[:2] == [(0, 1.5, T0), (1, 2.0, T0)]
