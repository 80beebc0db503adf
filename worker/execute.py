"""Run one spec through skipcore: data, model, fit (resuming from the last checkpoint), probes,
the figures' Vega-Lite specs. Returns how the run ended; the task records it, then asks for the
images of its probe figures (`Outcome.figures_pending`), drawn by the figure task off the run's time."""

from __future__ import annotations

import logging
import math
import traceback
from dataclasses import dataclass
from typing import Any, Optional

from persistence.repo import probes as probe_repo
from persistence.repo import runs as run_repo
from worker import figures
from worker.context import WorkerContext
from worker.reporter import DbReporter
from worker.retry import in_session

log = logging.getLogger("skipcore.worker")


@dataclass
class Outcome:
    status: str  # succeeded | failed | cancelled
    error: Optional[str] = None
    summary: Optional[dict[str, Any]] = None
    figures_pending: bool = False  # probe figures whose images are still to be drawn (their specs are stored)


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class Prepared:
    """A claimed run's spec, data and freshly built (seeded) model, and the state it resumes from."""

    spec: Any
    seed: int
    data: Any
    model: Any
    device: Any
    resume: Optional[dict]
    checkpoint_epoch: Optional[int]


def prepare(ctx: WorkerContext, run_id: str) -> Prepared | Outcome:
    """Data, model (seeded, as `fit` expects) and the checkpoint to resume from; an Outcome when
    the run cannot start (missing data)."""
    from skipcore.data import MissingDataError, load_dataset
    from skipcore.models import build_model
    from skipcore.spec import ExperimentSpec
    from skipcore.train import checkpoint as ckpt
    from skipcore.train.device import pick_device
    from skipcore.train.loop import seed_everything

    def read(s) -> tuple[Any, int, Optional[str], Optional[int]]:
        run = run_repo.get(s, run_id)
        assert run is not None
        return run.spec, run.seed, run.checkpoint_uri, run.checkpoint_epoch

    raw_spec, seed, checkpoint_uri, checkpoint_epoch = in_session(ctx.sessions, read)
    spec = ExperimentSpec.model_validate(raw_spec)

    device = pick_device(ctx.settings.device)
    try:
        data = load_dataset(spec.data, seed=seed, root=ctx.settings.data_root, device=device)
    except MissingDataError as exc:
        return Outcome("failed", str(exc))
    seed_everything(seed)
    model = build_model(spec.model, data.info).to(device)
    names = list(model.layer_names())
    in_session(ctx.sessions, lambda s: run_repo.set_layer_names(s, run_id, names))

    resume = None
    if checkpoint_uri:
        resume = ckpt.load(ctx.store.get(checkpoint_uri), map_location=device)
    if resume is not None and resume.get("format") == "final":
        # a checkpoint of the weights alone (the older "final" format, written after training): no
        # optimizer or loop state to continue from, so train again from the start (same result)
        log.warning("run %s: last checkpoint is the final one (no loop state); training again", run_id)
        resume = None
    return Prepared(spec, seed, data, model, device, resume, checkpoint_epoch)


def execute(ctx: WorkerContext, run_id: str) -> Outcome:
    from skipcore.train.loop import fit

    # the heartbeat starts at once: loading data, building the model (a first CUDA init) and
    # reading the checkpoint can outlast the lease, and the sweeper would requeue a live run
    reporter = DbReporter(ctx, run_id, 0)
    try:
        prep = prepare(ctx, run_id)
        if isinstance(prep, Outcome):
            return prep
        reporter.epochs = prep.spec.train.epochs
        if prep.resume is not None:
            reporter.epoch = prep.checkpoint_epoch or 0  # progress starts where the checkpoint is
            in_session(ctx.sessions, lambda s: run_repo.note_resume(s, run_id))
            log.info("run %s resumes from the checkpoint of epoch %s", run_id, prep.checkpoint_epoch)
        result = fit(prep.model, prep.data, prep.spec.train, probes=prep.spec.probes, reporter=reporter,
                     seed=prep.seed, device=prep.device, resume=prep.resume)
        reporter.flush()
        # the heartbeat keeps the lease through the last checkpoint, probes and figure specs: they can
        # outlast the lease, and the sweeper would requeue a run it thinks dead
        return after_training(ctx, run_id, prep, result, reporter)
    finally:
        reporter.close()


def after_training(ctx: WorkerContext, run_id: str, prep: Prepared, result: Any, reporter: DbReporter,
                   extra: Optional[dict[str, Any]] = None) -> Outcome:
    """The outcome of a trained run: summary, probes and the figures' Vega-Lite specs (their PNG
    and SVG are drawn by the figure task once the run is finished, see `worker.figures`)."""
    from skipcore.probes import init_model
    from skipcore.train.records import run_probe

    spec, model, data = prep.spec, prep.model, prep.data
    reporter.wait_checkpoint()  # the loop's last checkpoint is stored (it may still be in flight)
    summary = _finite(dict(result.summary))
    summary["epochs_run"] = result.epochs_run
    summary.update(extra or {})
    if prep.resume is not None:
        summary["resumed_from"] = prep.checkpoint_epoch  # the epoch of the checkpoint this attempt started from
    if result.stopped:
        if result.stopped.startswith("lease lost"):
            return Outcome("lost", result.stopped, summary)
        figures.training_figure(ctx, run_id)  # a stopped run shows the curves of the epochs it has
        if result.stopped == "cancelled":
            return Outcome("cancelled", None, summary)
        return Outcome("failed", result.stopped, summary)

    # no separate final checkpoint: the loop's checkpoint of the last epoch (always written) holds
    # the trained weights (`model`, downloadable) and the loop state, so a run killed during its
    # probes resumes there, trains no epoch and goes straight to the probes

    built: list[Any] = []  # the model at initialisation, built once for the probes that want it (AT_INIT)

    def at_init() -> Any:
        if not built:
            built.append(init_model(spec.model, data.info, prep.seed, prep.device))
        return built[0]

    pending = False  # a probe figure's spec stored, its images not drawn yet
    for params in spec.probes:
        try:
            out, status, error = run_probe(params, model, data, result.records, at_init), "succeeded", None
        except Exception as exc:  # noqa: BLE001 - one probe failing does not fail the run
            log.exception("probe %s failed on run %s", params.name, run_id)
            out, status, error = {}, "failed", f"{type(exc).__name__}: {exc}"
        _store_probe(ctx, run_id, params.name, status, out, error)
        if status == "succeeded":
            summary.update(_probe_summary(params.name, out))
            pending |= bool(figures.probe_spec(ctx, run_id, params.name, out))  # logs a failure, never raises
    figures.training_figure(ctx, run_id)
    reporter.wait_checkpoint()  # every checkpoint is stored before the run is finished
    return Outcome("succeeded", None, summary, figures_pending=pending)


def _probe_summary(name: str, out: dict[str, Any]) -> dict[str, Any]:
    """Scalar probe outputs that belong in the run summary (aggregates and compare read these): the
    keys the probe module declares (`SUMMARY_KEYS`, see `skipcore.probes.summary`)."""
    from skipcore.probes import summary

    return summary(name, out)


def _store_probe(ctx: WorkerContext, run_id: str, name: str, status: str, out: dict, error: Optional[str]) -> None:
    in_session(ctx.sessions, lambda s: probe_repo.record(s, run_id, name, status, out, error))


def describe(exc: BaseException) -> str:
    """A readable one-line error with the innermost frame, for the run's `error`."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
