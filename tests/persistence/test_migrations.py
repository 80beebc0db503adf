"""Migrations: upgrade head on fresh SQLite and Postgres, models and migrations agree, verify()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from persistence import schema
from persistence.models import Base

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "fresh_pg_url")


def test_upgrade_head_matches_models(fresh_url):
    schema.upgrade(fresh_url)
    engine = create_engine(fresh_url)
    try:
        assert schema.current_revision(engine) == schema.head_revision()
        assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_verify_refuses_an_unmigrated_database_and_names_the_command(fresh_url):
    engine = create_engine(fresh_url)
    try:
        with pytest.raises(schema.SchemaError, match=r"code expects .*skipcore db upgrade"):
            schema.verify(engine)
        schema.upgrade(fresh_url)
        schema.verify(engine)
        schema.downgrade(fresh_url, "base")
        assert schema.current_revision(engine) is None
        with pytest.raises(schema.SchemaError):
            schema.verify(engine)
        schema.upgrade(fresh_url)  # downgrade and upgrade again round-trip
        schema.verify(engine)
    finally:
        engine.dispose()


def test_upgrade_is_cwd_independent_and_alembic_cli_works(tmp_path):
    """`persistence.schema.upgrade` from another folder, and `alembic upgrade head` from the root."""
    db1, db2 = tmp_path / "a.db", tmp_path / "b.db"
    code = f"from persistence import schema; schema.upgrade('sqlite:///{db1}')"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True)
    env = {**os.environ, "SKIPCORE_DATABASE_URL": f"sqlite:///{db2}"}
    alembic = Path(sys.executable).with_name("alembic")
    subprocess.run([str(alembic), "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True)
    for db in (db1, db2):
        engine = create_engine(f"sqlite:///{db}")
        schema.verify(engine)
        engine.dispose()


def test_migrations_have_a_single_head():
    head = schema.head_revision()  # raises SchemaError on several heads
    assert (schema.migrations_dir() / "versions").is_dir() and head


def test_upgrade_to_0003_makes_stored_nan_and_infinities_portable(fresh_url):
    """Points written natively before 0003 (Postgres float8 NaN/±inf, SQLite 'NaN' text and ±inf
    REAL) become a finite value plus a nonfinite code; the downgrade writes them back."""
    from sqlalchemy import text

    schema.upgrade(fresh_url, "0002")
    engine = create_engine(fresh_url)
    pg = engine.dialect.name == "postgresql"
    nan, inf = ("'NaN'::float8", "'Infinity'::float8") if pg else ("'NaN'", "9e999")
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO experiments (id, name, owner, status, spec, spec_hash, created_at) "
                              "VALUES ('e', 'e', 'o', 'queued', '{}', 'h', CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO runs (id, experiment_id, index, seed, params, spec, status, created_at, "
                              "summary, layer_names, epoch, epochs, attempts, resumes, cancel_requested) VALUES "
                              "('r', 'e', 0, 0, '{}', '{}', 'queued', CURRENT_TIMESTAMP, '{}', '[]', 0, 0, 0, 0, false)"
                              .replace("index,", '"index",')))
            for step, value in enumerate(("1.5", nan, inf, f"-{inf}")):
                conn.execute(text(f"INSERT INTO metric_points VALUES ('r', 'loss', {step}, {value}, 0)"))
            conn.execute(text(f"INSERT INTO latest_metrics VALUES ('r', 'loss', 3, -{inf}, 0)"))
        schema.upgrade(fresh_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT value, nonfinite FROM metric_points ORDER BY step")).all()
            latest = conn.execute(text("SELECT value, nonfinite FROM latest_metrics")).one()
        assert [tuple(r) for r in rows] == [(1.5, None), (0.0, 1), (1.7976931348623157e308, 2),
                                           (-1.7976931348623157e308, 3)]
        assert tuple(latest) == (-1.7976931348623157e308, 3)
        schema.downgrade(fresh_url, "0002")
        with engine.connect() as conn:
            values = [v for (v,) in conn.execute(text("SELECT value FROM metric_points ORDER BY step"))]
        assert values[0] == 1.5 and values[2:] == [float("inf"), float("-inf")]
        assert values[1] == "NaN" if not pg else values[1] != values[1]
    finally:
        engine.dispose()
