"""A seed ensemble in the worker: several claimed runs of one experiment that differ only by seed,
trained together by `skipcore.train.ensemble.fit_ensemble`, each still its own run.

Every run keeps its own DbReporter (its metrics, its checkpoints, its lease: each reporter's
heartbeat thread renews its run from the moment the group is formed until that run is finished,
so runs waiting for the group's probes or for a sequential fallback are never swept). Cancel of
one run drops it from the group at the next epoch; a diverging seed fails only its run. When the
group cannot be trained together (`unsupported_reason`, logged) or the ensemble raises, the runs
are trained one after the other with `execute` (from their last checkpoint, if any).
"""

from __future__ import annotations

import logging
from typing import Callable

from worker.context import WorkerContext
from worker.execute import Outcome, Prepared, after_training, describe, execute, prepare
from worker.reporter import DbReporter

log = logging.getLogger("skipcore.worker")


def execute_group(ctx: WorkerContext, run_ids: list[str], record: Callable[[str, Outcome], None]) -> None:
    """Train `run_ids` (all claimed by this worker) as one ensemble where possible; `record` is
    called once per run with its outcome as soon as it is known."""
    from skipcore.train.ensemble import fit_ensemble, unsupported_reason

    keep = {rid: DbReporter(ctx, rid, 0) for rid in run_ids}  # leases renewed until each run ends
    preps: dict[str, Prepared] = {}

    def done(rid: str, outcome: Outcome) -> None:
        try:
            record(rid, outcome)
        finally:
            keep.pop(rid).close()

    try:
        single: list[str] = []
        for rid in run_ids:
            try:
                p = prepare(ctx, rid)
            except Exception as exc:  # noqa: BLE001 - that run fails, the group goes on
                log.exception("run %s failed", rid)
                done(rid, Outcome("failed", describe(exc)))
                continue
            if isinstance(p, Outcome):
                done(rid, p)
            elif p.resume is not None:
                single.append(rid)
            else:
                preps[rid] = p
        group = list(preps)
        ps = [preps[r] for r in group]
        try:
            why = "one run" if len(group) < 2 else unsupported_reason(
                [p.model for p in ps], [p.data for p in ps], ps[0].spec.train, ps[0].spec.probes)
        except Exception as exc:  # noqa: BLE001 - cannot tell: train them singly
            why = f"check failed: {describe(exc)}"
        if why:
            log.info("runs %s: no seed ensemble (%s); training them one by one", ",".join(group), why)
            single = group + single
        else:
            single += _train_together(ctx, group, ps, done, fit_ensemble)
        for rid in single:
            try:
                outcome = execute(ctx, rid)
            except Exception as exc:  # noqa: BLE001
                log.exception("run %s failed", rid)
                outcome = Outcome("failed", describe(exc))
            done(rid, outcome)
    finally:
        for rep in keep.values():
            rep.close()


def _train_together(ctx: WorkerContext, group: list[str], ps: list[Prepared], done, fit_ensemble) -> list[str]:
    """Returns the runs left to train singly (all of them when the ensemble raised)."""
    spec = ps[0].spec
    log.info("runs %s: training %d seeds as one ensemble (seeds %s)", ",".join(group), len(group),
             [p.seed for p in ps])
    reporters = [DbReporter(ctx, rid, spec.train.epochs) for rid in group]
    left: set[int] = set()

    def leave(k: int, result) -> None:  # a cancelled / diverged / lost seed ends now, not with the group
        left.add(k)
        reporters[k].flush()
        _finish_one(ctx, group[k], ps[k], result, reporters[k], len(group), done)

    try:
        res = fit_ensemble([p.model for p in ps], [p.data for p in ps], spec.train, seeds=[p.seed for p in ps],
                           probes=spec.probes, reporters=reporters, device=ps[0].device, on_leave=leave)
        for rep in reporters:
            rep.flush()
    except Exception:  # noqa: BLE001 - fall back: each run trains alone
        log.exception("runs %s: the ensemble failed; training them one by one", ",".join(group))
        for rep in reporters:
            rep.close()
        return [rid for k, rid in enumerate(group) if k not in left]
    try:  # heartbeats go on until each run's probes and figures are done (they can outlast the lease)
        for k, (rid, p, result, rep) in enumerate(zip(group, ps, res.results, reporters)):
            if k not in left:
                _finish_one(ctx, rid, p, result, rep, len(group), done)
                rep.close()
    finally:
        for rep in reporters:
            rep.close()
    return []


def _finish_one(ctx: WorkerContext, rid: str, p: Prepared, result, rep: DbReporter, size: int, done) -> None:
    try:
        outcome = after_training(ctx, rid, p, result, rep, extra={"ensemble_size": size})
    except Exception as exc:  # noqa: BLE001
        log.exception("run %s failed", rid)
        outcome = Outcome("failed", describe(exc))
    done(rid, outcome)
