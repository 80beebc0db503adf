"""The failures a user meets in normal use, as one or two readable lines and an exit code.

`expected(exc)` sorts an exception that escaped a command: the service cannot be reached, the
database schema is behind the code, the database is down, the server answered an error, a wait
ran out. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Optional

START_HINT = "start it with `skipcore serve` (or point --url / SKIPCORE_URL at a running service)"


def expected(exc: BaseException) -> Optional[tuple[str, int]]:
    """(message, exit code) for an expected failure, else None."""
    import httpx

    from client import ApiError

    if isinstance(exc, ApiError):
        return f"error: {exc}", 2 if exc.status in (400, 413, 422) else 1
    if isinstance(exc, httpx.TransportError):
        return _unreachable(exc), 1
    if isinstance(exc, TimeoutError):
        return f"error: {exc}", 1
    schema = sys.modules.get("persistence.schema")
    if schema is not None and isinstance(exc, schema.SchemaError):
        return f"error: {exc}", 2
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None and isinstance(exc, (sa.OperationalError, sa.InterfaceError)):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"error: cannot reach the database ({reason}); check SKIPCORE_DATABASE_URL", 1
    return None


def _unreachable(exc: Exception) -> str:
    try:
        where = str(exc.request.url.copy_with(path="/", query=None)).rstrip("/")  # type: ignore[attr-defined]
    except RuntimeError:  # no request attached
        where = "the configured URL"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "refused" in reason.lower() or "connect" in type(exc).__name__.lower():
        return f"error: no skipcore API answers at {where} ({reason});\n  {START_HINT}"
    return f"error: the skipcore API at {where} did not answer ({type(exc).__name__}: {reason})"


def flags_show_no_type() -> None:
    """In --help, a flag (`--watch`) shows no `<bool>` value: it takes none."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - another typer
        return
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_flags_bare", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._flags_bare = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich
