"""Metric points: keyset-paged history, downsampling in SQL, latest values; the upserts
(`persistence.repo.metric_writes`) and the layer statistics (`persistence.repo.layer_stats`) are
re-exported here.

A point is `(run_id, key, step)` → `(value, time)`; time is unix seconds (UTC). Every write is an
upsert, so a retried or resumed run never duplicates a point, and `latest_metrics` keeps the point
with the greatest step per key (summaries, `keys()`, `latest()`).

Non-finite values are stored portably: a finite stand-in in `value` and a `nonfinite` code
beside it (`persistence.models.encode_value`), the same on SQLite and Postgres, so an ORM read
always sees a float (`decode_value` gives the NaN or ±inf back). Every read here returns None for
a non-finite value, so JSON output stays valid (JSON has no NaN): the HTTP points say
`"value": null` for them.

Reads walk the primary key (run_id, key, step): keyset pages (`step > cursor ORDER BY step
LIMIT n`), never OFFSET; downsampling of a whole history is an index range scan of the rollup
table (`persistence.repo.rollup`), of a step-bounded range one aggregate query over that index
range; never a history loaded into Python.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from persistence.models import LatestMetric, MetricPoint
from persistence.repo import rollup
from persistence.repo.layer_stats import (  # noqa: F401 (re-exported)
    LayerMatrix, _finite, last_layer_stats, layer_matrix, layer_stats, upsert_layer_stats)
from persistence.repo.metric_writes import COPY_MIN, PG_ROWS, SQLITE_ROWS, upsert_points  # noqa: F401 (re-exported)

Point = tuple[int, Optional[float], float]  # (step, value or None if non-finite, unix time)


# ---------------------------------------------------------------------------------------- helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


_NAMED = re.compile(r"(?<!:):(\w+)")


def _fetch(session: Session, sql: str, params: dict[str, Any]) -> list[tuple]:
    """Run `sql` (named `:params`) on the session's own DBAPI connection and return plain tuples.

    Hot reads skip SQLAlchemy's result layer: for 10⁵ rows it costs more than the query. On
    Postgres the cursor is binary (no float parsing from text).
    """
    dialect = _dialect(session)
    conn = session.connection().connection.driver_connection
    if dialect == "postgresql":
        cur = conn.cursor(binary=True)
        sql = _NAMED.sub(r"%(\1)s", sql)
    else:
        cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


_VALUE = "CASE WHEN nonfinite IS NULL THEN value END"  # the value column, NULL where it is not finite
_FINITE = "nonfinite IS NULL"  # a SQL predicate: the point's value is finite


# ------------------------------------------------------------------------------------------ reads


def keys(session: Session, run_id: str) -> list[str]:
    """The metric keys of a run, sorted."""
    return list(session.scalars(select(LatestMetric.key).where(LatestMetric.run_id == run_id).order_by(LatestMetric.key)))


def latest(session: Session, run_ids: Sequence[str]) -> dict[str, dict[str, Optional[float]]]:
    """The last value (greatest step) of every key, for each run (an empty dict for a run without metrics)."""
    out: dict[str, dict[str, Optional[float]]] = {r: {} for r in run_ids}
    if not run_ids:
        return out
    stmt = select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value, LatestMetric.nonfinite).where(
        LatestMetric.run_id.in_(bindparam("ids", expanding=True))
    )
    for run_id, key, value, nonfinite in session.execute(stmt, {"ids": list(run_ids)}):
        out[run_id][key] = None if nonfinite is not None else _finite(value)
    return out


def _range_sql(step_min: Optional[int], step_max: Optional[int], params: dict) -> str:
    sql = ""
    if step_min is not None:
        sql += " AND step >= :step_min"
        params["step_min"] = int(step_min)
    if step_max is not None:
        sql += " AND step <= :step_max"
        params["step_max"] = int(step_max)
    return sql


def history(
    session: Session,
    run_id: str,
    key: str,
    *,
    after_step: Optional[int] = None,
    limit: int = 1000,
    step_min: Optional[int] = None,
    step_max: Optional[int] = None,
) -> tuple[list[Point], Optional[int]]:
    """One keyset page of `(step, value, time)` points, by step, after `after_step`.

    Returns the points and the next cursor: the last step of this page if more points remain,
    else None. One query on the primary key, `LIMIT limit + 1`.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    params: dict[str, Any] = {"run_id": run_id, "key": key, "limit": limit + 1}
    where = _range_sql(step_min, step_max, params)
    if after_step is not None:
        where += " AND step > :after"
        params["after"] = int(after_step)
    sql = (
        f"SELECT step, {_VALUE}, time FROM metric_points"
        f" WHERE run_id = :run_id AND key = :key{where} ORDER BY step LIMIT :limit"
    )
    points = _fetch(session, sql, params)
    if len(points) > limit:
        points.pop()
        return points, points[-1][0]
    return points, None


def downsample(
    session: Session,
    run_id: str,
    key: str,
    max_points: int,
    *,
    step_min: Optional[int] = None,
    step_max: Optional[int] = None,
) -> list[Point]:
    """At most `max_points` points over the whole (or the step-bounded) history, in step order.

    Method: min/max per bucket. The step range is cut into `(max_points - 2) // 2` equal buckets;
    each gives its finite minimum and maximum point, and the first and last points are added.
    So the first, last, global minimum and global maximum are always kept (for max_points ≥ 4;
    below that, first and last only). Why not LTTB: LTTB keeps the visual shape a little better
    but picks each point from the previous pick, a sequential scan SQL does badly (a recursive
    CTE, one row at a time); min/max is one GROUP BY over the primary-key range, and it never
    hides a spike, which is what a loss curve reader looks for.

    Two round trips: (1) count up to `max_points + 1` and the first/last step (index-only,
    O(max_points + log n)); if the history fits, it is returned whole; (2) the rows of the finest
    rollup level with at most `(max_points - 2) // 2` power-of-two buckets over [first, last]
    (their min and max points) UNION the first and last points (and, for a step-bounded range,
    the min/max points of the ≤ 2 buckets its bounds cut): an index range scan of ≤ 500 rows for
    max_points=1000, whatever the history's length. A key without rollup rows (points loaded
    around `upsert_points`) takes one more round trip, the aggregate over the range below:
    bucket min/max UNION the first and last points.
    Postgres takes each bucket's arg-min/arg-max in one pass with `min(ARRAY[value, step, time])`
    (arrays compare element-wise: the smallest value, ties to the smallest step); SQLite uses its
    documented bare-column rule for `min()`/`max()`. Non-finite values are never a bucket's
    min/max, but the first and last points are kept whatever their value.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    dialect = _dialect(session)
    params: dict[str, Any] = {"run_id": run_id, "key": key, "m1": max_points + 1}
    rng = _range_sql(step_min, step_max, params)
    base = f"FROM metric_points WHERE run_id = :run_id AND key = :key{rng}"
    ((n, lo, hi),) = _fetch(
        session,
        f"SELECT (SELECT count(*) FROM (SELECT 1 AS one {base} LIMIT :m1) AS head), "
        f"(SELECT step {base} ORDER BY step LIMIT 1), (SELECT step {base} ORDER BY step DESC LIMIT 1)",
        params,
    )
    if n <= max_points:
        return history(session, run_id, key, limit=max_points, step_min=step_min, step_max=step_max)[0]

    buckets = (max_points - 2) // 2
    params.update(lo=lo, hi=hi)
    level = rollup.choose_level(lo, hi, buckets)
    if level is not None:
        picked = _from_rollup(session, params, level, dialect, bounded=step_min is not None or step_max is not None)
        if picked is not None:
            return picked
    ends = "FROM metric_points WHERE run_id = :run_id AND key = :key AND step IN (:lo, :hi)"
    if buckets == 0:
        return list(_fetch(session, f"SELECT step, {_VALUE}, time {ends} ORDER BY step", params))
    params["width"] = (hi - lo + 1) / buckets
    finite = _FINITE
    if dialect == "postgresql":
        sql = (
            "SELECT min(ARRAY[value, step::float8, time]), max(ARRAY[value, -step::float8, time]) "
            f"{base} AND {finite} GROUP BY floor((step - :lo) / CAST(:width AS float8)) "
            f"UNION ALL SELECT ARRAY[{_VALUE}, step::float8, time], ARRAY[{_VALUE}, -step::float8, time] {ends}"
        )
        picked: dict[int, tuple] = {}
        for mn, mx in _fetch(session, sql, params):
            picked[int(mn[1])] = (int(mn[1]), mn[0], mn[2])
            picked[int(-mx[1])] = (int(-mx[1]), mx[0], mx[2])
        return list(picked[s] for s in sorted(picked))
    bucket = "CAST((step - :lo) / :width AS INTEGER)"
    sql = (
        f"SELECT step, min(value), time {base} AND {finite} GROUP BY {bucket} "
        f"UNION SELECT step, max(value), time {base} AND {finite} GROUP BY {bucket} "
        f"UNION SELECT step, {_VALUE}, time {ends} ORDER BY step"
    )
    return list(_fetch(session, sql, params))


def _from_rollup(session: Session, params: dict[str, Any], level: int, dialect: str, *,
                 bounded: bool) -> Optional[list[Point]]:
    """One query: the rollup rows of `level` over [lo, hi] UNION the first and last points; None if
    that range has no rollup rows (points loaded around `upsert_points`): the caller aggregates.

    A step-bounded range may cut its first and last buckets: those (≤ 2^level steps each) give
    their min and max from the points instead (ORDER BY value LIMIT 1 on a short index range)."""
    lo, hi, size = params["lo"], params["hi"], 1 << level
    b_lo, b_hi = lo >> level, hi >> level
    edges: list[tuple[int, int]] = []
    if bounded:
        if lo != b_lo << level:
            edges.append((lo, min(hi, (b_lo + 1) * size - 1)))
            b_lo += 1
        if hi != (b_hi + 1) * size - 1 and b_hi >= b_lo:
            edges.append((b_hi * size, hi))
            b_hi -= 1
    params = {**params, "level": level, "b_lo": b_lo, "b_hi": b_hi}
    point = (f"SELECT step, {_VALUE}, time, CAST(NULL AS BIGINT) AS s1, CAST(NULL AS FLOAT) AS v1, "
             "CAST(NULL AS FLOAT) AS t1 FROM metric_points")
    sql = (
        "SELECT min_step, min_value, min_time, max_step, max_value, max_time FROM metric_rollups "
        "WHERE run_id = :run_id AND key = :key AND level = :level AND bucket BETWEEN :b_lo AND :b_hi "
        f"UNION ALL {point} WHERE run_id = :run_id AND key = :key AND step = :lo "  # two equalities: an IN
        f"UNION ALL {point} WHERE run_id = :run_id AND key = :key AND step = :hi"  # list is a filter, not a seek
    )
    finite = _FINITE
    for i, (a, b) in enumerate(edges):
        params[f"e{i}a"], params[f"e{i}b"] = a, b
        for order in ("value, step", "value DESC, step"):
            sql += (f" UNION ALL SELECT * FROM ({point} WHERE run_id = :run_id AND key = :key AND step BETWEEN "
                    f":e{i}a AND :e{i}b AND {finite} ORDER BY {order} LIMIT 1) AS e{i}{len(order)}")
    picked: dict[int, tuple] = {}
    summaries = 0
    for s0, v0, t0, s1, v1, t1 in _fetch(session, sql, params):
        picked[s0] = (s0, v0, t0)
        if s1 is not None:
            picked[s1] = (s1, v1, t1)
            summaries += 1
    if not summaries and b_lo <= b_hi:
        return None
    return list(picked[s] for s in sorted(picked))


def count_points(session: Session) -> int:
    """Metric points stored. An estimate on Postgres (exact counts of huge tables are slow): the
    statistics collector's live-row count, which follows inserts within seconds (pg_class.reltuples
    stays -1 until the first ANALYZE, so a new table would read 0 however many points it holds)."""
    if _dialect(session) == "postgresql":
        n = session.execute(text(
            "SELECT GREATEST(n_live_tup, 0) FROM pg_stat_user_tables WHERE relname = 'metric_points'")).scalar()
    else:
        n = session.scalar(select(func.count()).select_from(MetricPoint))
    return int(n or 0)
