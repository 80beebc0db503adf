"""The `skipcore` command. The only composition root: api and worker are imported lazily,
inside the commands that need them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="skipcore: training jobs for studying skip connections", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings():
    """The settings from the environment; a bad SKIPCORE_* value exits 2 with its message (no traceback)."""
    from pydantic import ValidationError

    from persistence.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "SKIPCORE_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            typer.echo(f"error: {message}" if "SKIPCORE_" in message else f"error: {name}: {message}", err=True)
        raise typer.Exit(2)


def worker_command(concurrency: int, loglevel: str = "INFO", node: str = "") -> list[str]:
    name = f"skipcore-{os.getpid()}" + (f"-{node}" if node else "")
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "prefork",
            "--concurrency", str(concurrency), "--loglevel", loglevel, "-Q", "skipcore", "--without-gossip",
            "--without-mingle", "-n", f"{name}@%h"]


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    concurrency: Optional[int] = typer.Option(None, min=1, max=64, help="worker processes (runs trained at once); default "
                                              "SKIPCORE_WORKER_CONCURRENCY, 'auto': one per core (at most 8) on CPU"),
) -> None:
    """Start the embedded default: API + a real Celery worker process on the embedded broker.
    State lives under $SKIPCORE_HOME (default ./.skipcore). Ctrl-C stops everything."""
    from persistence.schema import upgrade

    settings = _settings()
    _refuse_open_on_network(settings, host)
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(str(settings.database_url))
    concurrency = concurrency or settings.worker_concurrency
    env = dict(os.environ, SKIPCORE_HOME=str(settings.home), SKIPCORE_WORKER_CONCURRENCY=str(concurrency))
    os.environ.update(env)
    worker = subprocess.Popen(worker_command(concurrency), env=env, start_new_session=True,
                              preexec_fn=_die_with_parent)
    # uvicorn captures SIGTERM/SIGINT, shuts down, restores our handlers and raises the signal again:
    # with these handlers that becomes SystemExit here (not death by signal), so `finally` runs
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        from api.main import create_app

        _run_announced(create_app(settings, announce=False), host, port, banner(settings, host, port))
    finally:
        _stop(worker)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _refuse_open_on_network(settings, host: str) -> None:
    if not settings.require_auth and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo("refusing to serve without authentication on a non-loopback address; set "
                   "SKIPCORE_REQUIRE_AUTH=true and create a key with `skipcore keys create`", err=True)
        raise typer.Exit(2)


def banner(settings, host: str, port: int) -> str:
    """What `serve` prints once it listens: where to go, where state lives, whether keys are needed."""
    from sqlalchemy.engine import make_url

    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    auth = (f"authentication is OFF: serving on {host} only (SKIPCORE_REQUIRE_AUTH=true requires API keys)"
            if not settings.require_auth else "authentication is on: send an API key (skipcore keys create)")
    database = make_url(str(settings.database_url)).render_as_string(hide_password=True)
    return (f"\nskipcore is ready at {base}\n"
            f"  front page  {base}/\n"
            f"  API docs    {base}/docs\n"
            f"  state       {settings.home} (database {database}; broker {settings.broker_url})\n"
            f"  {auth}\n"
            "  Ctrl-C stops the API and the worker.\n\n")


def _run_announced(app, host: str, port: int, text: str) -> None:
    """uvicorn.run, printing `text` once the port is listening (in one write, so another process's
    output cannot land inside it)."""
    import uvicorn

    class Announcing(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started and not self.should_exit:
                sys.stdout.write(text)
                sys.stdout.flush()

    server = Announcing(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False))
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's start-up failure code (it logged why)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM it if `serve` dies without stopping it (SIGKILL), Linux only."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop the worker and its pool: warm shutdown (the main process stops its children), then
    SIGKILL to its whole process group for whatever is still there after `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the worker's own session: pool children only
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


@app.command()
def worker(
    concurrency: Optional[int] = typer.Option(None, help="worker processes on a CPU worker (default SKIPCORE_WORKER_CONCURRENCY)"),
    gpus: Optional[str] = typer.Option(None, help="GPUs to use, one pinned worker each: all | none | 0,1,... "
                                       "(default: every visible GPU when CUDA is available, else a CPU worker)"),
    per_gpu: int = typer.Option(1, "--per-gpu", help="runs trained at once on each GPU (pool processes per GPU)"),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Start a worker for the configured broker (production profile); on a machine with GPUs, one
    worker process per GPU, pinned with CUDA_VISIBLE_DEVICES."""
    from persistence.settings import usable_cores
    from worker.gpus import PlanError, plan_children, visible_gpus

    settings = _settings()
    try:
        children = plan_children(visible_gpus(), gpus, per_gpu, usable_cores(),
                                 concurrency or settings.worker_concurrency)
    except PlanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if children[0].gpu is None and per_gpu != 1:
        typer.echo("error: --per-gpu needs GPUs (none visible or --gpus none); use --concurrency", err=True)
        raise typer.Exit(2)
    if children[0].gpu is not None and concurrency is not None:
        typer.echo("error: --concurrency is for a CPU worker; on GPUs use --per-gpu", err=True)
        raise typer.Exit(2)
    _schema_at_head(settings, down_ok=True)
    if children[0].gpu is None:  # the CPU worker: this process becomes Celery, as it always did
        one = children[0]
        os.execvpe(sys.executable, worker_command(one.concurrency, loglevel), dict(os.environ, **one.env))
    from cli.supervise import supervise

    raise typer.Exit(supervise([(worker_command(c.concurrency, loglevel, c.node), dict(os.environ, **c.env), c)
                                for c in children], _die_with_parent))


@app.command()
def api(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Start the API alone (production profile; run `skipcore worker` beside it)."""
    import uvicorn

    settings = _settings()
    _refuse_open_on_network(settings, host)
    _schema_at_head(settings)
    uvicorn.run("api.asgi:app", host=host, port=port, workers=workers, log_level="info", access_log=False)


def _schema_at_head(settings, down_ok: bool = False) -> None:
    """Before any server process starts: a database behind the code is one line naming the command.
    `down_ok` (the worker): a database that cannot be reached yet is a warning, not a refusal; the
    worker's writes retry until it is back, so a run delivered meanwhile starts then."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from persistence.db import make_engine
    from persistence.schema import verify

    engine = make_engine(str(settings.database_url))
    try:
        verify(engine)
    except (OperationalError, InterfaceError) as exc:
        if not down_ok:
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        typer.echo(f"warning: cannot reach the database yet ({reason}); the worker starts and retries", err=True)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the current version (alembic upgrade head)."""
    from persistence.schema import upgrade

    settings = _settings()
    upgrade(str(settings.database_url))
    typer.echo(f"database at head: {settings.database_url}")


from cli.commands import register  # noqa: E402 - client commands (HTTP only)
from cli.errors import expected, flags_show_no_type  # noqa: E402
from cli.keys import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")
register(app)
flags_show_no_type()


def main() -> None:
    """Run a command; an expected failure (service down, schema behind, an error answer) is one or
    two lines on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=True)
    except Exception as exc:  # noqa: BLE001 - sorted by `expected`; anything else is a bug and shows as one
        known = expected(exc)
        if known is None:
            raise
        message, code = known
        typer.echo(message, err=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
