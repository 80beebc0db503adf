"""Writing metric points: `upsert_points` (re-exported by `persistence.repo.metrics`).

Fresh steps (beyond each key's latest) go in by binary COPY on Postgres and are folded into the
rollups; re-written steps are upserted and their rollup buckets rebuilt. See `upsert_points`.

Values are written as `persistence.models.encode_value` stores them: a finite float in `value`
and, for NaN and ±inf, a `nonfinite` code beside it (NULL for a finite value).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy.orm import Session

from persistence.models import MAX_FLOAT, encode_value
from persistence.repo import rollup

SQLITE_ROWS = 500  # rows per multi-row VALUES statement on SQLite (5 variables a row, far below the limit)
PG_ROWS = 1000  # rows per multi-row VALUES statement on Postgres (5,000 parameters, limit 65,535)
COPY_MIN = 200  # below this many points, COPY's temp-table set-up costs more than it saves


def _query(session: Session, sql: str, params: tuple, dialect: str) -> list[tuple]:
    cur = session.connection().connection.driver_connection.cursor()
    try:
        cur.execute(sql.format(*(["%s" if dialect == "postgresql" else "?"] * len(params))), params)
        return cur.fetchall()
    finally:
        cur.close()


def _prepare(points: Iterable[tuple[str, int, float, float]]) -> tuple[list[tuple], dict[str, tuple]]:
    """Dedupe on (key, step), last write wins; return rows and the max-step row per key."""
    rows: dict[tuple[str, int], tuple] = {}
    for key, step, value, t in points:
        step = int(step)
        rows[(key, step)] = (key, step, float(value), float(t))
    latest: dict[str, tuple] = {}
    for row in rows.values():
        cur = latest.get(row[0])
        if cur is None or row[1] > cur[1]:
            latest[row[0]] = row
    return list(rows.values()), latest


def _stored(run_id: str, rows: Iterable[tuple]) -> list[tuple]:
    """`(run_id, key, step, value, time, nonfinite)` rows as the tables keep them."""
    out = []
    for key, step, value, t in rows:
        stored, code = encode_value(value)
        out.append((run_id, key, step, stored, t, code))
    return out


def normalise_sql(dialect: str, table: str) -> str:
    """An UPDATE turning non-finite values stored natively (Postgres float8 NaN/±inf, SQLite's
    'NaN' text and ±inf REAL) into the portable form: a finite stand-in and a `nonfinite` code."""
    if dialect == "postgresql":
        nan, pos = "value = 'NaN'::float8", "value = 'Infinity'::float8"
        where = "value IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"
    else:
        nan, pos = "typeof(value) = 'text'", "value > 0"
        where = f"typeof(value) = 'text' OR abs(value) > {MAX_FLOAT!r}"
    return (f"UPDATE {table} SET nonfinite = CASE WHEN {nan} THEN 1 WHEN {pos} THEN 2 ELSE 3 END, "
            f"value = CASE WHEN {nan} THEN 0.0 WHEN {pos} THEN {MAX_FLOAT!r} ELSE {-MAX_FLOAT!r} END WHERE {where}")


_COLS = "run_id, key, step, value, time, nonfinite"
_N = 6  # columns a row
_ON_CONFLICT = ("ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, time = excluded.time, "
                "nonfinite = excluded.nonfinite")


def _values_sql(n: int, mark: str) -> str:
    row = "(" + ", ".join([mark] * _N) + ")"
    return f"INSERT INTO metric_points ({_COLS}) VALUES " + ", ".join([row] * n) + " " + _ON_CONFLICT


def _executemany_values(session: Session, run_id: str, rows: list[tuple], per_stmt: int, mark: str) -> None:
    """Multi-row VALUES upserts: full chunks in one executemany (psycopg 3 pipelines it), then the rest."""
    cur = session.connection().connection.driver_connection.cursor()
    try:
        flat = [x for row in _stored(run_id, rows) for x in row]
        full = len(rows) // per_stmt
        width = per_stmt * _N
        if full:
            cur.executemany(_values_sql(per_stmt, mark), [flat[i * width : (i + 1) * width] for i in range(full)])
        if len(rows) % per_stmt:
            cur.execute(_values_sql(len(rows) % per_stmt, mark), flat[full * width :])
    finally:
        cur.close()


_COPY_TYPES = ["text", "text", "int8", "float8", "float8", "int2"]


def _copy_upsert(session: Session, run_id: str, rows: list[tuple]) -> None:
    """Postgres: binary COPY into a temp table, then one INSERT ... SELECT ... ON CONFLICT."""
    cur = session.connection().connection.driver_connection.cursor()
    try:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _skipcore_points "
            "(run_id text, key text, step int8, value float8, time float8, nonfinite int2) ON COMMIT DROP"
        )
        with cur.copy(f"COPY _skipcore_points ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for row in _stored(run_id, rows):
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO metric_points ({_COLS}) SELECT {_COLS} FROM _skipcore_points "
            f"ORDER BY key, step {_ON_CONFLICT}"
        )
        cur.execute("DROP TABLE _skipcore_points")
    finally:
        cur.close()


def _upsert_latest(session: Session, run_id: str, latest: dict[str, tuple], dialect: str) -> None:
    """Move latest_metrics forward: only where the batch's step is >= the stored one (raw DBAPI,
    like the points: one executemany)."""
    mark = "%s" if dialect == "postgresql" else "?"
    sql = (
        f"INSERT INTO latest_metrics ({_COLS}) VALUES ({', '.join([mark] * _N)}) "
        "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value, "
        "time = excluded.time, nonfinite = excluded.nonfinite WHERE latest_metrics.step <= excluded.step"
    )
    cur = session.connection().connection.driver_connection.cursor()
    try:
        cur.executemany(sql, _stored(run_id, latest.values()))
    finally:
        cur.close()


def upsert_points(
    session: Session,
    run_id: str,
    points: Sequence[tuple[str, int, float, float]],
    *,
    method: str = "auto",
) -> int:
    """Write `(key, step, value, time)` points; the same (key, step) again replaces the value.

    First one read of the run's `latest_metrics`: if every point's step is beyond its key's
    latest step (the common case: training appends), no conflict is possible, and on Postgres
    (method "auto" or "copy") the points are binary-COPYed straight into metric_points inside a
    savepoint, and folded into the rollups (`persistence.repo.rollup.merge_batch`). Otherwise
    (a resumed run re-writing steps), the upsert paths below, then the rollup buckets covering
    each key's step span are rebuilt from the points.

    Upserts, Postgres: `method="copy"` (binary COPY into a temp table + one INSERT ... SELECT ... ON
    CONFLICT; the default for batches of `COPY_MIN` points or more, measured fastest) or
    `method="values"` (executemany of 1,000-row INSERT ... VALUES ... ON CONFLICT statements,
    pipelined by psycopg 3). SQLite: always multi-row VALUES, 500 rows a statement. Duplicates
    within the batch are collapsed first (last one wins). Also moves `latest_metrics` forward
    (never back: only if the batch's step per key is ≥ the stored one). Returns the number of
    distinct points written.
    """
    if method not in ("auto", "copy", "values"):
        raise ValueError(f"method must be 'auto', 'copy' or 'values', got {method!r}")
    if not points:
        return 0
    dialect = session.get_bind().dialect.name
    rows, latest = _prepare(points)
    conn = session.connection().connection.driver_connection
    if dialect == "postgresql":  # one round trip: the savepoint (used by _copy_fresh) and the read
        with conn.pipeline():
            conn.execute("SAVEPOINT skipcore_copy")
            cur = conn.execute("SELECT key, step FROM latest_metrics WHERE run_id = %s", (run_id,))
        stored = dict(cur.fetchall())
    else:
        stored = dict(_query(session, "SELECT key, step FROM latest_metrics WHERE run_id = {}", (run_id,), dialect))
    fresh = all(step > stored.get(key, step - 1) for key, step, _, _ in rows)
    if fresh and dialect == "postgresql" and method != "values":
        if _copy_fresh(session, run_id, rows):  # the rest in one round trip (psycopg pipeline mode)
            with conn.pipeline():
                conn.execute("RELEASE SAVEPOINT skipcore_copy")
                rollup.merge_batch(session, run_id, rollup.batch_rows(rows), dialect)
                _upsert_latest(session, run_id, latest, dialect)
            return len(rows)
        fresh = False  # a concurrent writer stored some of these steps: upsert and rebuild
    if dialect == "postgresql":
        if method == "copy" or (method == "auto" and len(rows) >= COPY_MIN):
            _copy_upsert(session, run_id, rows)
        else:
            _executemany_values(session, run_id, rows, PG_ROWS, "%s")
    else:
        _executemany_values(session, run_id, rows, SQLITE_ROWS, "?")
    if fresh:  # only new (key, step)s: fold them into the rollups
        rollup.merge_batch(session, run_id, rollup.batch_rows(rows), dialect)
    else:  # some steps re-written: an old extreme may be gone, recompute the buckets they touch
        spans: dict[str, list[int]] = {}
        for key, step, _, _ in rows:
            span = spans.setdefault(key, [step, step])
            span[0], span[1] = min(span[0], step), max(span[1], step)
        for key, (lo, hi) in spans.items():
            rollup.rebuild(session, run_id, key, lo, hi)
    _upsert_latest(session, run_id, latest, dialect)
    return len(rows)


def _copy_fresh(session: Session, run_id: str, rows: list[tuple]) -> bool:
    """Postgres, only new (key, step)s (every step beyond the key's latest): binary COPY straight
    into metric_points, inside a savepoint. False (nothing written) if a concurrent writer got
    there first (unique violation): the caller then upserts."""
    import psycopg

    cur = session.connection().connection.driver_connection.cursor()
    try:  # the caller set SAVEPOINT skipcore_copy, and releases it on success
        try:
            with cur.copy(f"COPY metric_points ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_COPY_TYPES)
                for row in _stored(run_id, rows):
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT skipcore_copy")
            return False
        return True
    finally:
        cur.close()
