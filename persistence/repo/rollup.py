"""Metric rollups: per (run, key) min/max summaries at power-of-two step strides, kept at write time.

Row `(run_id, key, level, bucket)` summarises the finite points with `step >> level == bucket`:
the point of the smallest value (ties: smallest step) and the point of the largest value (ties:
smallest step), each as (step, value, time). Levels `MIN_LEVEL..MAX_LEVEL` (strides 16 .. 2^30
steps) all exist for every point written through `persistence.repo.metrics.upsert_points`
(≈ n/8 rows for n points). A bucket without a finite point has no row.

A `max_points` read over a whole history is then an index range scan of at most
`(max_points - 2) // 2` rows of one level plus the first and last points
(`persistence.repo.metrics.downsample`), instead of an aggregate over every point.

Maintenance: `merge_batch` folds a batch of *new* points (no (key, step) stored before) into the
rows with an upsert that keeps the smaller min / larger max; `rebuild` recomputes the buckets
covering a step range from the points (level MIN_LEVEL) and from the level below (the others),
for overwrites (a resumed run re-writing steps), where an old extreme may have been replaced.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional

from sqlalchemy.orm import Session

MIN_LEVEL = 4
MAX_LEVEL = 30
LEVELS = range(MIN_LEVEL, MAX_LEVEL + 1)
_COLS = "run_id, key, level, bucket, min_step, min_value, min_time, max_step, max_value, max_time"
_ROWS_PER_STMT = {"sqlite": 200}  # 10 parameters a row


def _is_finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def batch_rows(rows: Iterable[tuple[str, int, Any, float]]) -> list[tuple]:
    """Rollup rows `(key, level, bucket, min_step, min_value, min_time, max_step, max_value, max_time)`
    of a batch of `(key, step, value, time)` points (non-finite values skipped)."""
    level: dict[tuple[str, int], list] = {}
    for key, step, value, t in rows:
        if not _is_finite(value):
            continue
        k = (key, step >> MIN_LEVEL)
        e = level.get(k)
        if e is None:
            level[k] = [step, value, t, step, value, t]
            continue
        if value < e[1] or (value == e[1] and step < e[0]):
            e[0], e[1], e[2] = step, value, t
        if value > e[4] or (value == e[4] and step < e[3]):
            e[3], e[4], e[5] = step, value, t
    out = [(key, MIN_LEVEL, b, *e) for (key, b), e in level.items()]
    for lv in LEVELS[1:]:
        up: dict[tuple[str, int], list] = {}
        for (key, b), e in level.items():
            k = (key, b >> 1)
            u = up.get(k)
            if u is None:
                up[k] = list(e)
                continue
            if e[1] < u[1] or (e[1] == u[1] and e[0] < u[0]):
                u[0], u[1], u[2] = e[0], e[1], e[2]
            if e[4] > u[4] or (e[4] == u[4] and e[3] < u[3]):
                u[3], u[4], u[5] = e[3], e[4], e[5]
        out += [(key, lv, b, *u) for (key, b), u in up.items()]
        level = up
    return out


def merge_batch(session: Session, run_id: str, rows: list[tuple], dialect: str) -> None:
    """Fold rollup rows of new points into the stored ones (smaller min, larger max wins)."""
    if not rows:
        return
    t = "metric_rollups"
    sql_tail = (
        " ON CONFLICT (run_id, key, level, bucket) DO UPDATE SET "
        f"min_step = CASE WHEN excluded.min_value < {t}.min_value THEN excluded.min_step ELSE {t}.min_step END, "
        f"min_time = CASE WHEN excluded.min_value < {t}.min_value THEN excluded.min_time ELSE {t}.min_time END, "
        f"min_value = CASE WHEN excluded.min_value < {t}.min_value THEN excluded.min_value ELSE {t}.min_value END, "
        f"max_step = CASE WHEN excluded.max_value > {t}.max_value THEN excluded.max_step ELSE {t}.max_step END, "
        f"max_time = CASE WHEN excluded.max_value > {t}.max_value THEN excluded.max_time ELSE {t}.max_time END, "
        f"max_value = CASE WHEN excluded.max_value > {t}.max_value THEN excluded.max_value ELSE {t}.max_value END"
    )
    cur = session.connection().connection.driver_connection.cursor()
    if dialect == "postgresql":  # one statement, the rows as 9 arrays (a huge VALUES list is slow to parse)
        cols = list(zip(*rows))
        try:
            cur.execute(
                f"INSERT INTO {t} ({_COLS}) SELECT %s, * FROM unnest(%s::text[], %s::int2[], %s::int8[], "
                "%s::int8[], %s::float8[], %s::float8[], %s::int8[], %s::float8[], %s::float8[])" + sql_tail,
                [run_id, *[list(c) for c in cols]],
            )
        finally:
            cur.close()
        return
    one = "(" + ", ".join(["?"] * 10) + ")"
    per = _ROWS_PER_STMT[dialect]
    try:
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            flat = [x for r in chunk for x in (run_id, *r)]
            cur.execute(f"INSERT INTO {t} ({_COLS}) VALUES " + ", ".join([one] * len(chunk)) + sql_tail, flat)
    finally:
        cur.close()


FINITE = "nonfinite IS NULL"  # the points whose value is finite (persistence.models.encode_value)


def level_sql(dialect: str, level: int, scoped: bool, finite: str = FINITE) -> tuple[str, str]:
    """(DELETE, INSERT ... SELECT) statements rebuilding one level, named params :run_id, :key,
    :b_lo, :b_hi (the level's bucket range) when `scoped`, else over the whole table. `finite`:
    the SQL predicate of a finite point (a migration of an older schema passes its own)."""
    where = "run_id = :run_id AND key = :key AND " if scoped else ""
    delete = f"DELETE FROM metric_rollups WHERE level = {level}" + (
        " AND run_id = :run_id AND key = :key AND bucket BETWEEN :b_lo AND :b_hi" if scoped else "")
    if level == MIN_LEVEL:
        src, b, cond = "metric_points", f"step >> {level}", finite
        rng = f" AND step BETWEEN (:b_lo * {1 << level}) AND (:b_hi * {1 << level} + {(1 << level) - 1})" if scoped else ""
        mn, mx = ("value", "step", "time"), ("value", "step", "time")
    else:
        src, b, cond = "metric_rollups", "bucket >> 1", f"level = {level - 1}"
        rng = " AND bucket BETWEEN (:b_lo * 2) AND (:b_hi * 2 + 1)" if scoped else ""
        mn, mx = ("min_value", "min_step", "min_time"), ("max_value", "max_step", "max_time")
    filt = f"WHERE {where}{cond}{rng}"
    if dialect == "postgresql":
        select = (
            f"SELECT run_id, key, {level}, b, (mn[2])::int8, mn[1], mn[3], (-mx[2])::int8, mx[1], mx[3] FROM ("
            f"SELECT run_id, key, {b} AS b, min(ARRAY[{mn[0]}, {mn[1]}::float8, {mn[2]}]) AS mn, "
            f"max(ARRAY[{mx[0]}, -{mx[1]}::float8, {mx[2]}]) AS mx FROM {src} {filt} "
            f"GROUP BY run_id, key, {b}) AS g"
        )
    else:  # SQLite's bare-column rule: with min()/max(), the other columns come from that row
        select = (
            f"SELECT a.run_id, a.key, {level}, a.b, a.s, a.v, a.t, z.s, z.v, z.t FROM "
            f"(SELECT run_id, key, {b} AS b, {mn[1]} AS s, min({mn[0]}) AS v, {mn[2]} AS t FROM {src} {filt} "
            f"GROUP BY run_id, key, {b}) AS a JOIN "
            f"(SELECT run_id, key, {b} AS b, {mx[1]} AS s, max({mx[0]}) AS v, {mx[2]} AS t FROM {src} {filt} "
            f"GROUP BY run_id, key, {b}) AS z ON a.run_id = z.run_id AND a.key = z.key AND a.b = z.b"
        )
    return delete, f"INSERT INTO metric_rollups ({_COLS}) {select}"


def rebuild(session: Session, run_id: Optional[str] = None, key: Optional[str] = None,
            step_lo: int = 0, step_hi: int = (1 << 62)) -> None:
    """Recompute every level's buckets covering steps [step_lo, step_hi] of (run_id, key) from
    the stored points; with run_id None, the whole table (the migration's backfill)."""
    from sqlalchemy import text

    dialect = session.get_bind().dialect.name
    scoped = run_id is not None
    for level in LEVELS:
        params = {"run_id": run_id, "key": key, "b_lo": step_lo >> level, "b_hi": step_hi >> level}
        for sql in level_sql(dialect, level, scoped):
            session.execute(text(sql), params if scoped else {})


def choose_level(lo: int, hi: int, buckets: int) -> Optional[int]:
    """The finest level whose buckets over [lo, hi] number at most `buckets`, None if none does."""
    for level in LEVELS:
        if (hi >> level) - (lo >> level) + 1 <= buckets:
            return level
    return None
