"""metric values stored portably: a `nonfinite` code beside a finite value

`metric_points.nonfinite` and `latest_metrics.nonfinite` (SMALLINT, NULL for a finite value;
1 NaN, 2 +inf, 3 -inf) with `value` a finite stand-in (0.0 for NaN, ±max float for ±inf), as
MLflow keeps `is_nan` beside its value. Before, Postgres kept NaN/±inf in float8 and SQLite kept
±inf as REAL and NaN as the text 'NaN', which an ORM read handed back as a string. The stored
non-finite values are rewritten in place (`persistence.repo.metric_writes.normalise_sql`); the
downgrade writes them back the old way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("metric_points", "latest_metrics")


def upgrade() -> None:
    from persistence.repo.metric_writes import normalise_sql

    for table in TABLES:
        op.add_column(table, sa.Column("nonfinite", sa.SmallInteger(), nullable=True))
        op.execute(normalise_sql(op.get_bind().dialect.name, table))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    nan, inf = ("'NaN'", "9e999") if sqlite else ("'NaN'::float8", "'Infinity'::float8")
    for table in TABLES:
        op.execute(f"UPDATE {table} SET value = CASE nonfinite WHEN 1 THEN {nan} WHEN 2 THEN {inf} "
                   f"ELSE -{inf} END WHERE nonfinite IS NOT NULL")
        # SQLite >= 3.35 drops a column in place (a batch copy would break the trigger on runs
        # that names metric_points)
        op.execute(f"ALTER TABLE {table} DROP COLUMN nonfinite")
