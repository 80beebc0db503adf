"""Celery tasks. Thin: claim the run (lease), execute it, finish it, then ask for its probe figures'
images; draw the figures an experiment lacks. Ids in, state fetched again."""

from __future__ import annotations

import logging
import socket

import psutil
from celery.signals import worker_process_init

from persistence.models import FINISHED, utcnow
from persistence.queue import TASK_FIGURES, TASK_RUN, send_figures
from persistence.repo import runs as run_repo
from worker.celery_app import app
from worker import experiment_figures, figures
from worker.context import configure_threads, get_context
from worker.execute import Outcome, describe, execute
from worker.group import execute_group
from worker.retry import in_session

log = logging.getLogger("skipcore.worker")


def _local_owner_dead(owner: str | None) -> bool:
    """Whether a lease owner (`host:pid:nonce`, see worker.context) is a process of this host that is gone."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        return psutil.Process(int(pid)).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


@worker_process_init.connect
def _init_process(**_kwargs) -> None:
    configure_threads(get_context().settings.worker_concurrency)


@app.task(name=TASK_RUN, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_task(run_id: str) -> str:
    ctx = get_context()
    s = ctx.settings
    claim = _claim(ctx, run_id, s.lease_seconds)
    if claim.reason == "leased" and _local_owner_dead(claim.run.lease_owner):
        # a pool child of this host died (SIGKILL, OOM) and reject_on_worker_lost sent its run back:
        # take the dead child's lease now instead of waiting for it to expire
        beat = claim.run.heartbeat_at
        age = (utcnow() - beat).total_seconds() if beat else 0.0
        claim = _claim(ctx, run_id, max(0.0, age - 0.001))
    if claim.reason != "claimed":
        log.info("run %s not executed here: %s", run_id, claim.reason)
        return claim.reason
    log.info("run %s claimed by %s (attempt %d)", run_id, ctx.worker_id, claim.run.attempts)
    siblings = _claim_siblings(ctx, run_id, claim.run)
    if siblings:
        outcomes: dict[str, str] = {}
        execute_group(ctx, [run_id, *siblings], lambda rid, o: outcomes.__setitem__(rid, record(ctx, rid, o)))
        return outcomes.get(run_id, "failed")
    try:
        outcome = execute(ctx, run_id)
    except Exception as exc:  # noqa: BLE001 - a failure is recorded, never left `running`
        log.exception("run %s failed", run_id)
        outcome = Outcome("failed", describe(exc))
    return record(ctx, run_id, outcome)


def _claim(ctx, run_id: str, lease_seconds: float) -> run_repo.Claim:
    """Claim with retries: a delivery that meets a database restart waits for it (bounded), rather
    than failing the task and leaving the run to the sweeper."""
    return in_session(ctx.sessions, lambda s: run_repo.claim(s, run_id, ctx.worker_id, lease_seconds=lease_seconds,
                                                            max_attempts=ctx.settings.max_attempts))


def record(ctx, run_id: str, outcome: Outcome) -> str:
    """Finish the run with its outcome (a lost lease is left to the run's new owner)."""
    if outcome.status == "lost":
        log.warning("run %s: %s", run_id, outcome.error)
        return "lost"

    in_session(ctx.sessions, lambda s: run_repo.finish(s, run_id, outcome.status, worker=ctx.worker_id,
                                                       error=outcome.error, summary=outcome.summary))
    log.info("run %s %s", run_id, outcome.status)
    _after_finish(ctx, run_id, outcome.figures_pending)
    return outcome.status


def _after_finish(ctx, run_id: str, figures_pending: bool) -> None:
    """Once the run is finished, ask for what is drawn off its time: the images of its probe
    figures (`figures_task` for this run, its training curves left to a page that asks), and,
    when this was the experiment's last run (the experiment's status, rolled up from its runs,
    says it has ended), the sweep chart (which the same message draws)."""
    def ended(s) -> tuple[str, bool] | None:
        run = run_repo.get(s, run_id)
        return (run.experiment_id, run.experiment.status in FINISHED) if run is not None else None

    try:
        found = in_session(ctx.sessions, ended)
        if found is not None and (figures_pending or found[1]):
            send_figures(app, found[0], [run_id] if figures_pending else [], training=False)
    except Exception:  # noqa: BLE001 - figures never fail a run
        log.exception("could not ask for the figures after run %s", run_id)


@app.task(name=TASK_FIGURES, acks_late=True, ignore_result=True)
def figures_task(experiment_id: str, run_ids: list[str] | None = None, training: bool = True) -> int:
    """Draw what the experiment lacks: the figures of `run_ids` (default: the finished runs its
    report shows; their probe figures, and their training curves unless `training` is false) and,
    once every run has finished, its sweep chart. Returns how many it stored."""
    ctx = get_context()
    runs = experiment_figures.read_runs(ctx, experiment_id)
    if runs is None:
        return 0
    known = {r.id for r in runs.runs}
    wanted = [r for r in run_ids if r in known] if run_ids is not None else experiment_figures.shown_runs(runs)
    drawn = len(figures.missing_figures(ctx, wanted, training=training))
    drawn += experiment_figures.draw(ctx, experiment_id, runs)
    log.info("experiment %s: %d figure(s) drawn", experiment_id, drawn)
    return drawn


# On CPU, K seeds stacked into batched matmuls beat K runs in turn only for small steps: 8 seeds of a
# depth-50 telescope (width 64, one thread) trained 3.07x faster at 32 rows a step, 1.40x at 128,
# 1.07x at 256, 0.85x at 512 and 0.74x at full batch (1024 rows); `bench/bench_ensemble.py --batch N`.
CPU_ENSEMBLE_MAX_ROWS = 128


def _claim_siblings(ctx, run_id: str, run) -> list[str]:
    """Queued runs of the same experiment that differ only by seed, claimed to train with this one
    as a seed ensemble (SKIPCORE_ENSEMBLE_MAX, 1 = off); none when the spec rules it out, and none
    on CPU unless SKIPCORE_ENSEMBLE_ON_CPU (there a seed trains alone, bit-identically whatever its
    siblings), and on CPU none for steps of more than CPU_ENSEMBLE_MAX_ROWS rows."""
    limit = ctx.settings.ensemble_max - 1
    if limit < 1 or run.checkpoint_uri:
        return []
    from skipcore.spec import ExperimentSpec
    from skipcore.train.device import pick_device
    from skipcore.train.ensemble import spec_reason

    spec = ExperimentSpec.model_validate(run.spec)
    why = spec_reason(spec)
    if not why and pick_device(ctx.settings.device).type == "cpu":
        rows = min(spec.train.batch_size or spec.data.train_size(), spec.data.train_size())
        if not ctx.settings.ensemble_on_cpu:
            why = "on CPU each seed trains alone, so its numbers never depend on its siblings (SKIPCORE_ENSEMBLE_ON_CPU)"
        elif rows > CPU_ENSEMBLE_MAX_ROWS:
            why = (f"on CPU a step of {rows} rows trains faster seed by seed than stacked (batched matmuls "
                   f"pay up to {CPU_ENSEMBLE_MAX_ROWS} rows a step)")
    if why:
        log.info("run %s: no seed ensemble (%s)", run_id, why)
        return []
    ids = in_session(ctx.sessions, lambda s: run_repo.claim_siblings(s, run_id, ctx.worker_id, limit=limit,
                                                                    max_attempts=ctx.settings.max_attempts))
    if ids:
        log.info("run %s: claimed %d sibling run(s) for a seed ensemble: %s", run_id, len(ids), ",".join(ids))
    return ids
