"""Schema management: run the Alembic migrations in code, and refuse a database that is behind.

`upgrade(url)` is `alembic upgrade head` without an ini file or a working directory: the Config is
built here and points at the `migrations` package folder, so it works from a source checkout and
from an installed wheel alike. `verify(engine)` is what the API and worker call at start-up
(MLflow `_verify_schema`): it raises `SchemaError` naming the command to run.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

UPGRADE_HINT = "run `skipcore db upgrade` (alembic upgrade head)"


class SchemaError(RuntimeError):
    """The database schema is not the one this code expects."""


def migrations_dir() -> Path:
    """The folder of the `migrations` package (installed or in the checkout)."""
    spec = importlib.util.find_spec("migrations")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "env.py").is_file():
                return Path(location)
    here = Path(__file__).resolve().parent.parent / "migrations"
    if (here / "env.py").is_file():
        return here
    raise SchemaError("cannot find the `migrations` package (env.py): is skipcore installed?")


def alembic_config(database_url: Optional[str] = None, *, connection: Optional[Connection] = None) -> Config:
    """An Alembic Config built in code; `database_url` or `connection` override Settings."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["configure_logger"] = False
    if database_url is not None:
        cfg.attributes["url"] = str(database_url)  # attributes, not main options: no %-interpolation
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(database_url: Optional[str] = None, revision: str = "head") -> None:
    """`alembic upgrade head` on `database_url` (default: the Settings' database)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: Optional[str], revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The head revision of the migrations shipped with this code (cached: it only changes with the code)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def current_revision(bind: Union[Engine, Connection]) -> Optional[str]:
    """The revision stamped in the database, None for an empty (un-migrated) one."""
    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def verify(bind: Union[Engine, Connection]) -> None:
    """Raise SchemaError unless the database is at the head revision."""
    current, head = current_revision(bind), head_revision()
    if current != head:
        shown = current or "empty (no alembic_version)"
        raise SchemaError(f"database schema is at {shown}, code expects {head}: {UPGRADE_HINT}")
