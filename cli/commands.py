"""Client commands: submit, list, status, watch, results, cancel. They speak HTTP through `client` only.

The URL comes from --url or $SKIPCORE_URL (default http://127.0.0.1:8000), the key from
--api-key or $SKIPCORE_API_KEY. An id may be typed as a unique prefix (as the tables print it).
Exit codes: 0 ok (watch: the experiment succeeded), 1 the experiment failed or was cancelled (or
the server refused or could not be reached), 2 a bad request or file.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import typer

from cli.show import SHORT, eta, num, plural, short, stage, when
from client import ApiError, Client, Experiment

URL = typer.Option(None, "--url", envvar="SKIPCORE_URL", help="API base URL [default: http://127.0.0.1:8000]")
KEY = typer.Option(None, "--api-key", envvar="SKIPCORE_API_KEY", help="API key (sent as Bearer)")
MAX_STREAMS = 8  # run event streams watched at once
STATUSES = ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")


def _client(url: Optional[str], api_key: Optional[str]) -> Client:
    return Client(url or "http://127.0.0.1:8000", api_key or None)


def _fail(exc: ApiError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2 if exc.status in (400, 413, 422) else 1)


def _has_probes(exp: Experiment) -> bool:
    return bool(exp.spec.get("probes"))


def submit(
    spec: Path = typer.Argument(..., help="experiment spec (JSON file, or - for stdin)"),
    watch_: bool = typer.Option(False, "--watch", help="follow the runs until the experiment finishes"),
    idempotency_key: Optional[str] = typer.Option(None, "--idempotency-key", help="resubmitting with it is harmless"),
    url: Optional[str] = URL,
    api_key: Optional[str] = KEY,
) -> None:
    """Submit an experiment spec; print its id."""
    try:
        body = json.loads(sys.stdin.read() if str(spec) == "-" else spec.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {spec}: {exc}", err=True)
        raise typer.Exit(2)
    with _client(url, api_key) as c:
        try:
            exp = c.submit(body, idempotency_key=idempotency_key)
        except ApiError as exc:
            raise _fail(exc)
        typer.echo(exp.id)
        typer.echo(f"experiment {exp.name!r}: {plural(len(exp.runs), 'run')} {exp.status}", err=True)
        if watch_:
            raise typer.Exit(_watch(c, exp.id))


def list_(
    status_: Optional[str] = typer.Option(None, "--status", help=f"only this status: {' | '.join(STATUSES)}"),
    limit: int = typer.Option(50, help="at most this many (0: all)"),
    url: Optional[str] = URL,
    api_key: Optional[str] = KEY,
) -> None:
    """Experiments, newest first: status, runs, progress and ETA."""
    from rich.console import Console
    from rich.table import Table

    if status_ is not None and status_ not in STATUSES:
        typer.echo(f"error: --status must be one of {', '.join(STATUSES)}, got {status_!r}", err=True)
        raise typer.Exit(2)
    with _client(url, api_key) as c:
        try:
            exps = []
            for e in c.list_experiments(status=status_, page_size=min(limit, 100) if limit else None):
                exps.append(e)
                if limit and len(exps) >= limit:
                    break
        except ApiError as exc:
            raise _fail(exc)
    table = Table(title=f"{plural(len(exps), 'experiment')}" + (f" {status_}" if status_ else ""))
    for col in ("id", "name", "status", "runs", "done", "created", "eta"):
        table.add_column(col)
    for e in exps:
        done = sum(r.status == "succeeded" for r in e.runs)
        left = [r.progress.eta_seconds for r in e.runs if r.status == "running" and r.progress.eta_seconds is not None]
        table.add_row(e.id[:SHORT], e.name, e.status, plural(len(e.runs), "run"), f"{done}/{len(e.runs)}",
                      when(e.created_at), eta(max(left) if left else None))
    Console(width=None if sys.stdout.isatty() else 120).print(table)


def status(experiment_id: str = typer.Argument(..., help="experiment id (or a unique prefix)"),
           url: Optional[str] = URL, api_key: Optional[str] = KEY) -> None:
    """An experiment's status and each run's progress."""
    from rich.console import Console
    from rich.table import Table

    with _client(url, api_key) as c:
        try:
            exp = c.get_experiment(c.resolve_experiment(experiment_id))
        except ApiError as exc:
            raise _fail(exc)
    table = Table(title=f"{exp.name} ({exp.id}): {exp.status}, {plural(len(exp.runs), 'run')}")
    for col in ("run", "seed", "params", "status", "epoch", "eta"):
        table.add_column(col)
    for r in exp.runs:
        p = r.progress
        table.add_row(r.id[:SHORT], str(r.seed), short(r.params), r.status,
                      stage(r.status, p.epoch, p.epochs, p.phase, _has_probes(exp)), eta(p.eta_seconds, r.status))
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    if exp.error:
        typer.echo(f"error: {exp.error}", err=True)


def watch(experiment_id: str = typer.Argument(..., help="experiment id (or a unique prefix)"),
          url: Optional[str] = URL, api_key: Optional[str] = KEY) -> None:
    """Live progress of each run (Server-Sent Events); exit 0 if the experiment succeeded, else 1."""
    with _client(url, api_key) as c:
        try:
            full = c.resolve_experiment(experiment_id)
        except ApiError as exc:
            raise _fail(exc)
        raise typer.Exit(_watch(c, full))


def _watch(c: Client, experiment_id: str) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    try:
        exp = c.get_experiment(experiment_id)
    except ApiError as exc:
        raise _fail(exc)
    probes = _has_probes(exp)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
               TextColumn("{task.fields[status]}"), TextColumn("eta {task.fields[eta]}"))
    lock = threading.Lock()
    state = {r.id: {"status": r.status, "epoch": r.progress.epoch, "epochs": r.progress.epochs,
                    "eta_seconds": r.progress.eta_seconds, "phase": r.progress.phase} for r in exp.runs}
    with Progress(*columns, console=console) as bar:
        def show(run_id: str) -> None:
            s = state[run_id]
            bar.update(tasks[run_id], completed=s["epoch"], total=s["epochs"] or None, status=s["status"],
                       stage=stage(s["status"], s["epoch"], s["epochs"], s["phase"], probes),
                       eta=eta(s["eta_seconds"], s["status"]))

        tasks = {r.id: bar.add_task(f"{r.id[:SHORT]} seed {r.seed} {short(r.params)}", total=None, stage="",
                                    status="", eta="") for r in exp.runs}
        for run_id in tasks:
            show(run_id)

        def follow(run_id: str) -> None:
            for ev in c.events(run_id):
                if ev.event in ("progress", "status") and isinstance(ev.data, dict):
                    with lock:
                        state[run_id].update({k: v for k, v in ev.data.items() if k in state[run_id]})
                        show(run_id)

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_STREAMS, len(exp.runs)))) as pool:
            for f in [pool.submit(follow, r.id) for r in exp.runs]:
                f.result()
        final = c.wait(experiment_id, timeout=60)
        for r in final.runs:
            state[r.id].update(status=r.status, epoch=r.progress.epoch, epochs=r.progress.epochs)
            show(r.id)
    typer.echo(f"experiment {final.id}: {final.status}")
    if final.error:
        typer.echo(f"error: {final.error}", err=True)
    return 0 if final.status == "succeeded" else 1


def results(
    experiment_id: str = typer.Argument(..., help="experiment id (or a unique prefix)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    url: Optional[str] = URL,
    api_key: Optional[str] = KEY,
) -> None:
    """Each run's final metrics (and, with --json, the per-point aggregate across seeds)."""
    with _client(url, api_key) as c:
        try:
            full = c.resolve_experiment(experiment_id)
            exp = c.get_experiment(full)
            agg = c.aggregate(full)
        except ApiError as exc:
            raise _fail(exc)
    if as_json:
        typer.echo(json.dumps(_results_json(exp, agg), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    found = {k for r in exp.runs for k, v in r.summary.items() if isinstance(v, (int, float))} - _BOOKKEEPING
    names = [k for k in _FIRST if k in found] + sorted(found - set(_FIRST))
    table = Table(title=f"{exp.name} ({exp.id}): {exp.status}")
    for col in ["run", "seed", "params", "status", *names]:
        table.add_column(col, justify="right" if col in names else "left", overflow="fold")
    for r in exp.runs:
        table.add_row(r.id[:SHORT], str(r.seed), short(r.params), r.status, *(num(r.summary.get(k)) for k in names))
    # piped into a file or another program: as wide as the table needs, never cut to 80 columns
    wide = None if sys.stdout.isatty() else max(120, 40 + 14 * len(names))
    Console(width=wide).print(table)


_FIRST = ("val_loss", "train_loss", "val_accuracy", "train_accuracy", "val_iou", "mc_error")  # the headline numbers
_BOOKKEEPING = {"ensemble_size", "resumed_from", "val_every"}  # in --json, not in the table


def _results_json(exp: Experiment, agg: Any) -> dict[str, Any]:
    return {
        "id": exp.id, "name": exp.name, "status": exp.status,
        "runs": [{"id": r.id, "seed": r.seed, "params": r.params, "status": r.status, "summary": r.summary,
                  "error": r.error} for r in exp.runs],
        "aggregate": [{"params": p.params, "n": p.n, "runs": p.runs,
                       "metrics": {k: {"mean": s.mean, "std": s.std, "ci95": s.ci95, "n": s.n}
                                   for k, s in p.metrics.items()}} for p in agg.points],
    }


def cancel(
    experiment_id: str = typer.Argument(..., help="experiment id, or a run id with --run (or a unique prefix)"),
    run: bool = typer.Option(False, "--run", help="the id is one run's: cancel only that run"),
    url: Optional[str] = URL,
    api_key: Optional[str] = KEY,
) -> None:
    """Cancel an experiment (or one run with --run): queued runs never start, running ones stop at their next epoch."""
    with _client(url, api_key) as c:
        try:
            if run:
                one = c.cancel_run(c.resolve_run(experiment_id))
            else:
                exp = c.cancel(c.resolve_experiment(experiment_id))
        except ApiError as exc:
            raise _fail(exc)
    typer.echo(f"run {one.id}: {one.status}" if run else f"experiment {exp.id}: {exp.status}")


def register(app: typer.Typer) -> None:
    """Add the client commands to the `skipcore` app."""
    from cli.reproduce import reproduce

    for fn in (submit, status, watch, results, cancel, reproduce):
        app.command()(fn)
    app.command("list")(list_)
