"""Layer statistics (`layer_stats`): one row per (run, statistic, step) holding a value per layer,
written by the probes and read for heat maps and the results' per-layer columns (re-exported by
`persistence.repo.metrics`). Non-finite values are stored as JSON null."""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Sequence

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from persistence.models import LayerStat


class LayerMatrix(NamedTuple):
    steps: list[int]
    values: list[list[Optional[float]]]  # one row per step, one float per layer


def _finite(v: Any) -> Optional[float]:
    """A float, None where it is missing or not finite."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def upsert_layer_stats(session: Session, run_id: str, rows: Sequence[tuple[str, int, Sequence[float]]]) -> None:
    """Write `(name, step, [value per layer])` rows, upserted on (run_id, name, step).

    Non-finite floats become JSON null (JSON has no NaN; Postgres' json type rejects it).
    """
    if not rows:
        return
    dedup = {(name, int(step)): [_finite(v) for v in values] for name, step, values in rows}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(LayerStat)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "name", "step"], set_={"values": stmt.excluded["values"]}
    )
    session.execute(stmt, [dict(run_id=run_id, name=n, step=s, values=v) for (n, s), v in dedup.items()])


def layer_stats(
    session: Session,
    run_id: str,
    *,
    name: Optional[str] = None,
    step: Optional[int] = None,
    after: Optional[tuple[str, int]] = None,
    limit: int = 1000,
) -> list[tuple[str, int, list[Optional[float]]]]:
    """`(name, step, values)` rows ordered by (name, step); `after=(name, step)` is a keyset cursor."""
    stmt = select(LayerStat.name, LayerStat.step, LayerStat.values).where(LayerStat.run_id == run_id)
    if name is not None:
        stmt = stmt.where(LayerStat.name == name)
    if step is not None:
        stmt = stmt.where(LayerStat.step == int(step))
    if after is not None:
        stmt = stmt.where(tuple_(LayerStat.name, LayerStat.step) > tuple_(after[0], int(after[1])))
    stmt = stmt.order_by(LayerStat.name, LayerStat.step).limit(limit)
    return [(n, s, list(v)) for n, s, v in session.execute(stmt)]


def layer_matrix(session: Session, run_id: str, name: str, max_steps: Optional[int] = None) -> LayerMatrix:
    """Steps × layers of one statistic, for heat maps.

    With `max_steps`, at most that many evenly spaced steps (first and last kept), picked in SQL:
    row i of n is kept when it starts a new bucket of `i * (max_steps - 1) // (n - 1)`.
    """
    params: dict[str, Any] = {"run_id": run_id, "name": name}
    if max_steps is None:
        sql = "SELECT step, \"values\" FROM layer_stats WHERE run_id = :run_id AND name = :name ORDER BY step"
    else:
        if max_steps < 2:
            raise ValueError(f"max_steps must be >= 2, got {max_steps}")
        params["m"] = max_steps - 1
        sql = (
            "SELECT step, \"values\" FROM ("
            " SELECT step, \"values\", row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n"
            " FROM layer_stats WHERE run_id = :run_id AND name = :name) AS r "
            "WHERE n <= :m + 1 OR i = 0 OR (i * :m) / NULLIF(n - 1, 0) > ((i - 1) * :m) / NULLIF(n - 1, 0) "
            "ORDER BY step"
        )
    table = LayerStat.__table__
    steps: list[int] = []
    values: list[list[Optional[float]]] = []
    for step, vals in session.execute(text(sql).columns(table.c.step, table.c["values"]), params):
        steps.append(step)
        values.append(list(vals))
    return LayerMatrix(steps, values)


def last_layer_stats(session: Session, run_ids: Sequence[str], names: Sequence[str],
                     chunk: int = 500) -> dict[tuple[str, str], list]:
    """(run_id, name) → the values of that run's last record (greatest step) of that statistic."""
    out: dict[tuple[str, str], list] = {}
    for i in range(0, len(run_ids), chunk):
        ids = list(run_ids[i : i + chunk])
        last = (
            select(LayerStat.run_id, LayerStat.name, func.max(LayerStat.step).label("step"))
            .where(LayerStat.run_id.in_(ids), LayerStat.name.in_(list(names)))
            .group_by(LayerStat.run_id, LayerStat.name)
            .subquery()
        )
        stmt = select(LayerStat.run_id, LayerStat.name, LayerStat.values).where(
            tuple_(LayerStat.run_id, LayerStat.name, LayerStat.step).in_(select(last.c.run_id, last.c.name, last.c.step))
        )
        for run_id, name, values in session.execute(stmt):
            out[(run_id, name)] = list(values or [])
    return out
