"""`skipcore reproduce`: the reproduction report (docs/reproductions.md) through the `reproduce`
application (HTTP only; imported when the command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def reproduce(
    scale: str = typer.Option("small", help="smoke | small | seed | full"),
    plan: bool = typer.Option(False, "--plan", help="only time every configuration and write plan_<scale>.json"),
    out: Path = typer.Option(Path("docs"), help="folder for reproductions.md and figures/"),
    claims: Optional[str] = typer.Option(None, help="comma list of claim numbers (default: all)"),
    url: Optional[str] = typer.Option(None, "--url", envvar="SKIPCORE_URL", help="a running service"),
    serve_: bool = typer.Option(False, "--serve", help="start a temporary embedded service instead"),
    concurrency: int = typer.Option(1, help="worker processes of the --serve service"),
) -> None:
    """Write the reproduction report (docs/reproductions.md) from fresh runs (HTTP API only)."""
    from reproduce.main import main as reproduce_main

    args = ["--scale", scale, "--out", str(out), "--concurrency", str(concurrency)]
    args += ["--claims", claims] if claims else []
    args += ["--plan"] if plan else []
    args += ["--serve"] if serve_ else (["--url", url] if url else [])
    raise typer.Exit(reproduce_main(args))

