"""metric rollups; metric_points without its foreign key (a delete trigger on runs instead)

`metric_rollups`: min/max summaries per power-of-two step bucket (persistence.repo.rollup),
backfilled here from the stored points. `metric_points` loses `fk_metric_points_run_id_runs`:
the per-row foreign-key check was about half the Postgres ingest time. Integrity holds because
points are only written by `persistence.repo.metrics.upsert_points`, which upserts the batch's
keys into `latest_metrics` (foreign key kept) in the same transaction: a batch for an unknown run
fails whole. The ON DELETE CASCADE is kept by an AFTER DELETE trigger on `runs` that deletes the
run's points and rollups (it also fires for runs cascaded from a deleted experiment).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION skipcore_delete_run_metrics() RETURNS trigger AS $$
BEGIN
    DELETE FROM metric_points WHERE run_id = OLD.id;
    DELETE FROM metric_rollups WHERE run_id = OLD.id;
    RETURN OLD;
END $$ LANGUAGE plpgsql
"""
_PG_TRIGGER = ("CREATE TRIGGER trg_runs_delete_metrics AFTER DELETE ON runs "
               "FOR EACH ROW EXECUTE FUNCTION skipcore_delete_run_metrics()")
# a finite point at this revision (non-finite values were stored natively until 0003)
_FINITE = {"postgresql": "value NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)",
           "sqlite": "typeof(value) IN ('real', 'integer') AND abs(value) <= 1.7976931348623157e308"}
_SQLITE_TRIGGER = """
CREATE TRIGGER trg_runs_delete_metrics AFTER DELETE ON runs FOR EACH ROW BEGIN
    DELETE FROM metric_points WHERE run_id = OLD.id;
    DELETE FROM metric_rollups WHERE run_id = OLD.id;
END
"""


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("min_step", sa.BigInteger(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("min_time", sa.Float(), nullable=False),
        sa.Column("max_step", sa.BigInteger(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column("max_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", "level", "bucket", name="pk_metric_rollups"),
    )
    with op.batch_alter_table("metric_points") as batch:
        batch.drop_constraint("fk_metric_points_run_id_runs", type_="foreignkey")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)
    # backfill: every level of every stored (run, key), from the points up
    from persistence.repo.rollup import LEVELS, level_sql

    for level in LEVELS:
        op.execute(level_sql(bind.dialect.name, level, scoped=False, finite=_FINITE[bind.dialect.name])[1])


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP TRIGGER IF EXISTS trg_runs_delete_metrics" + (" ON runs" if bind.dialect.name == "postgresql" else ""))
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS skipcore_delete_run_metrics()")
    op.execute("DELETE FROM metric_points WHERE run_id NOT IN (SELECT id FROM runs)")
    with op.batch_alter_table("metric_points") as batch:
        batch.create_foreign_key("fk_metric_points_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE")
    op.drop_table("metric_rollups")
