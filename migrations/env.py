"""Alembic environment: metadata from `persistence.models`, URL from the caller or from Settings.

Where the URL comes from, first match wins:
1. `config.attributes["connection"]`: an open SQLAlchemy connection (tests, programmatic use);
2. `config.attributes["url"]` (what `persistence.schema.upgrade(url)` passes);
3. `alembic -x url=...` on the command line;
4. `sqlalchemy.url` in the ini file, if someone set it;
5. `persistence.settings.get_settings().database_url` (SKIPCORE_DATABASE_URL, default SQLite under
   SKIPCORE_HOME).

SQLite gets `render_as_batch=True` (ALTER TABLE through copy-and-move); `compare_type=True`
everywhere so autogenerate notices type changes.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from persistence.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        from persistence.settings import get_settings

        url = get_settings().database_url
    url = str(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _configure(**kwargs) -> None:
    url_or_conn = kwargs.get("connection") or kwargs.get("url")
    dialect = url_or_conn.dialect.name if isinstance(url_or_conn, Connection) else str(url_or_conn).split(":")[0]
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=dialect.startswith("sqlite"),
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    _configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
