"""`skipcore keys create | list | revoke`: API keys, straight in the configured database (an
operator's commands, like `skipcore db upgrade`; the HTTP API has no key management)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer

keys_app = typer.Typer(help="API keys (in the configured database)", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[object]:
    from persistence.db import make_engine, make_sessionmaker, session_scope
    from persistence.schema import verify
    from persistence.settings import Settings

    engine = make_engine(str(Settings().database_url))
    verify(engine)  # a schema behind the code: one line naming the command to run
    with session_scope(make_sessionmaker(engine)) as s:
        yield s


@keys_app.command("create")
def keys_create(
    owner: str = typer.Option(..., help="who the key belongs to"),
    scope: str = typer.Option("write", help="read | write | admin"),
) -> None:
    """Create an API key; the token is printed once and stored only as a hash."""
    from persistence.repo import keys

    with _session() as s:
        try:
            row, token = keys.create(s, owner=owner, scope=scope)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        key_id = row.id
    typer.echo(token)
    typer.echo(f"key {key_id} for {owner} ({scope}); keep the token: it is not stored", err=True)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, owner, scope, the token's visible start, created and revoked times."""
    from rich.console import Console
    from rich.table import Table

    from persistence.repo import keys

    table = Table(title="API keys")
    for col in ("id", "owner", "scope", "token", "created", "revoked"):
        table.add_column(col)
    with _session() as s:
        for k in keys.list_keys(s):
            table.add_row(k.id, k.owner, k.scope, f"sk_{k.prefix}_…", _when(k.created_at), _when(k.revoked_at))
    Console(width=120).print(table)


@keys_app.command("revoke")
def keys_revoke(key: str = typer.Argument(..., help="key id (or a unique prefix), or the token's start sk_XXXXXXXX")) -> None:
    """Revoke a key: requests with its token are refused (401) from now on."""
    from persistence.repo import keys

    with _session() as s:
        rows = keys.list_keys(s)
        if key.startswith("sk_"):
            matches = [k for k in rows if key.startswith(f"sk_{k.prefix}")]
        else:
            matches = [k for k in rows if k.id == key] or [k for k in rows if k.id.startswith(key)]
        if len(matches) != 1:
            listed = ", ".join(f"{k.id} ({k.owner}, {k.scope})" for k in matches)
            typer.echo(f"error: key {key!r} " + (f"is ambiguous: {listed}" if matches else "not found"), err=True)
            raise typer.Exit(1)
        (row,) = matches
        if not keys.revoke(s, row.id):
            typer.echo(f"error: key {row.id} ({row.owner}) was already revoked", err=True)
            raise typer.Exit(1)
        typer.echo(f"key {row.id} ({row.owner}, {row.scope}) revoked")


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "-"
