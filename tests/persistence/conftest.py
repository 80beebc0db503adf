"""Persistence fixtures: migrated databases (SQLite and Postgres) and a run to hang metrics on."""

from __future__ import annotations

import uuid

import pytest

from persistence import schema
from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Experiment, Run


@pytest.fixture(scope="session")
def migrated_pg_url(pg_admin):
    """A throwaway Postgres database of this module's tests, at the head revision."""
    name = f"skipcore_repo_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        schema.upgrade(url)
        yield url
    finally:
        pg_admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    """A sessionmaker on a migrated database; `db.dialect` says which."""
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        schema.upgrade(url)
    else:
        url = request.getfixturevalue("migrated_pg_url")
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    factory.dialect = request.param  # type: ignore[attr-defined]
    factory.engine = engine  # type: ignore[attr-defined]
    yield factory
    engine.dispose()


def new_run(factory) -> str:
    run_id = uuid.uuid4().hex
    with session_scope(factory) as s:
        s.add(Experiment(id=run_id, name="t", spec={}, spec_hash="h"))
        s.flush()
        s.add(Run(id=run_id, experiment_id=run_id, index=0, seed=0, spec={}))
    return run_id


@pytest.fixture
def run_id(db) -> str:
    return new_run(db)
