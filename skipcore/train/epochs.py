"""The per-epoch bookkeeping of every training path: one loop over a model view of K runs.

`fit` trains one model (K = 1, `loop.SingleView`), `fit_ensemble` K seeds stacked
(`ensemble.StackedView`); both run `run_epochs`, which owns the epoch: the lr schedule, the
steps (forward, loss (+ L1), backward, the gradient records, clipping, optimizer step), the
validation pass on the epochs `train.validates_at` names (given the view's steps per epoch), one
host sync per epoch, then for each run: the nan/inf stop, its scalars and layer statistics, the
records its probes declared (`skipcore.train.records`), best val loss, the skip* switch, the
reporter's stop and the checkpoint rule. A run that stops leaves at that epoch (`view.keep`);
`result` gives its FitResult (summary, test split, records).

A view holds K rows (row r of every per-run tensor is `rows[r]`) and provides: `device`, `opt`,
`row_shape` (a per-run loss's shape: () for one model, (K,) stacked), `n` (training samples),
`n_steps`, `n_layers`, `set_lr`, `start_epoch(gens)`, `batch(step)` -> (x, y, batch size),
`forward`, `loss`, `l1`, `backward`, `correct`, `clip`, `grad_norms()` and `weight_mean_abs()`
((L, K)), `evaluate()` ((values, K) on the validation split), `switch_skips(r, star)`,
`capture(r, epoch, phase, gen, loop)`, `write_back(r)`, `keep(rows)`, `model(r)`, and
`mid_epoch_stop` (whether a stop may end an epoch early: one model only).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from skipcore.train import skip_star
from skipcore.train.evaluate import eval_dict, evaluate_test_split
from skipcore.train.records import RecordPlan
from skipcore.train.reporter import Reporter

STOP_CHECK_STEPS = 50  # ask reporter.should_stop() this often inside long epochs (one model only)
FIT_SUMMARY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc", "val_iou")


@dataclass
class FitResult:
    epochs_run: int  # completed epochs (counting those before a resume)
    stopped: Optional[str]  # reason the loop stopped early, None if it ran to the end
    summary: dict[str, float]  # final train/val loss (and acc/iou), best_val_loss, time_s
    records: dict[str, Any] = field(default_factory=dict)  # what probes' RECORDS asked for: first_updates, every


def lr_at(train: Any, epoch: int) -> float:
    """Per-epoch schedule: constant, or cosine from lr (epoch 1) towards 0 (after the last)."""
    if train.lr_schedule == "cosine":
        return train.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / train.epochs))
    return train.lr


def new_loop_state() -> dict[str, Any]:
    """The loop state a checkpoint carries (`loop`), at the start of training."""
    return {"best_val": math.inf, "phase1_best": math.inf, "bad_epochs": 0, "first_updates": [], "every": [],
            "steps": 0}


@dataclass
class Row:
    """One run in the loop: its reporter, generator, loop state and where it stands."""

    reporter: Reporter
    generator: torch.Generator
    loop: dict[str, Any] = field(default_factory=new_loop_state)
    phase: Optional[int] = None
    test_split: tuple[Optional[Tensor], Optional[Tensor]] = (None, None)
    # a checkpoint carries the last epoch's scalars and the training time so far: a run resumed
    # from its last epoch's checkpoint (killed during the probes) trains no epoch and still
    # reports its final numbers and its whole training time
    time_before: float = field(init=False, default=0.0)
    last: dict[str, float] = field(init=False, default_factory=dict)
    done: int = 0
    stopped: Optional[str] = None

    def __post_init__(self) -> None:
        self.last = dict(self.loop.get("last", {}))
        self.time_before = float(self.loop.get("elapsed_s", 0.0))

    def records(self) -> dict[str, Any]:
        return {"first_updates": self.loop["first_updates"], "every": self.loop["every"]}


def _columns(flat: list[float], start: int, K: int, r: int, n: int) -> list[float]:
    """Column r of the (n, K) block at `start` of the host list (row-major)."""
    return [flat[start + j * K + r] for j in range(n)]


def record_init(view: Any, rows: list[Row], task: str) -> None:
    """Epoch 0: the init's validation values and weight_mean_abs, so init and trained can be compared."""
    val = view.evaluate()
    wma = view.weight_mean_abs()
    host = torch.cat([val.flatten(), wma.T.flatten().to(val.device)]).tolist()
    K, nv, L = len(rows), val.shape[0], wma.shape[0]
    for r, row in enumerate(rows):
        scalars = eval_dict(_columns(host, 0, K, r, nv), task) | ({"phase": 1.0} if row.phase is not None else {})
        row.reporter.metrics(0, scalars, {"weight_mean_abs": host[nv * K + r * L: nv * K + (r + 1) * L]})


def _train_epoch(view: Any, train: Any, plan: RecordPlan, rows: list[Row], log_layers: bool, task: str):
    """The steps of one epoch: (loss sum, correct count, first-update grad norms, last grad norms,
    seconds of the steps), or None when a reporter asked to stop mid-epoch (the epoch is then neither
    reported nor saved). The seconds are the `step_time` metric: shuffling, forward, loss, backward,
    clipping and optimizer steps only (on CUDA the device is synchronised before the clock is read,
    so queued kernels are not counted in the validation pass that follows)."""
    device = view.device
    t_steps = time.perf_counter()
    view.start_epoch([row.generator for row in rows])
    loss_sum = torch.zeros(view.row_shape, device=device)
    correct = torch.zeros(view.row_shape, device=device)
    first_k: list[Tensor] = []
    grad_norm = None
    steps, n_steps = rows[0].loop["steps"], view.n_steps
    for step in range(n_steps):
        xb, yb, b = view.batch(step)
        out = view.forward(xb)
        loss = view.loss(out, yb)
        total = loss + train.l1 * view.l1() if train.l1 > 0 else loss
        view.backward(total)
        if steps < plan.first_updates:
            first_k.append(view.grad_norms())
        if log_layers and step == n_steps - 1:
            grad_norm = view.grad_norms()
        if train.grad_clip is not None:
            view.clip(train.grad_clip)
        view.opt.step()
        view.opt.zero_grad(set_to_none=True)
        steps += 1
        loss_sum += loss.detach() * b
        if task != "regression":
            correct += view.correct(out, yb)
        if view.mid_epoch_stop and step % STOP_CHECK_STEPS == STOP_CHECK_STEPS - 1 and step < n_steps - 1:
            rows[0].stopped = rows[0].reporter.should_stop()
            if rows[0].stopped:
                return None
    for row in rows:
        row.loop["steps"] = steps
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return loss_sum, correct, first_k, grad_norm, time.perf_counter() - t_steps


def _end_of_epoch(view: Any, epoch: int, parts: tuple, rows: list[Row], log_layers: bool, ctx: "_Run") -> list[int]:
    """One host sync, then each run's report, records, skip* switch, checkpoint and stop; returns
    the rows that leave (stopped or diverged)."""
    loss_sum, correct, first_k, grad_norm, step_s = parts
    t0, lr, train, plan, task = ctx.t0, ctx.lr, ctx.train, ctx.plan, ctx.task
    validate = train.validates_at(epoch, view.n_steps)
    K, n = len(rows), view.n
    flat = [(loss_sum / n).reshape(-1), correct.float().reshape(-1)]
    dev = flat[0].device
    if validate:
        val = view.evaluate()
        flat.append(val.flatten().to(dev))
    nv = val.shape[0] if validate else 0
    if log_layers:
        flat += [view.weight_mean_abs().T.flatten().to(dev), grad_norm.T.flatten().to(dev)]
    flat += [g.T.flatten().to(dev) for g in first_k]
    host = torch.cat(flat).tolist()
    L = view.n_layers
    off = (2 + nv) * K
    drop: list[int] = []
    for r, row in enumerate(rows):
        base = off + (2 * K * L if log_layers else 0) + r * L
        row.loop["first_updates"].extend(host[base + j * K * L: base + j * K * L + L] for j in range(len(first_k)))
        train_loss, n_correct = host[r], host[K + r]
        vals = eval_dict(_columns(host, 2 * K, K, r, nv), task) if validate else {}
        bad = [v for v in (train_loss, vals.get("val_loss", 0.0)) if not math.isfinite(v)]
        if bad:
            row.stopped = f"loss became {'nan' if math.isnan(bad[0]) else 'inf'} at epoch {epoch}"
            drop.append(r)
            continue
        scalars = {"train_loss": train_loss, **vals, "epoch_time": time.perf_counter() - t0, "step_time": step_s,
                   "lr": lr}
        if task != "regression":
            scalars["train_acc"] = n_correct / (n * ctx.per_item)
        if row.phase is not None:
            scalars["phase"] = float(row.phase)
        layers: dict[str, list[float]] = {}
        if log_layers:
            wma, gn = host[off + r * L: off + (r + 1) * L], host[off + K * L + r * L: off + K * L + (r + 1) * L]
            layers = {"weight_mean_abs": wma, "grad_norm": gn}
            if plan.grad_norms_kept_at(epoch):
                row.loop["every"].append({"epoch": epoch, "grad_norm": gn})
        row.reporter.metrics(epoch, scalars, layers)
        if _after_report(view, r, row, epoch, scalars, ctx):
            drop.append(r)
    return drop


def _after_report(view: Any, r: int, row: Row, epoch: int, scalars: dict[str, float], ctx: "_Run") -> bool:
    """Best val loss, the skip* switch, the reporter's stop and the checkpoint rule; True: it leaves."""
    train, loop = ctx.train, row.loop
    validated = "val_loss" in scalars  # `train.validates_at(epoch, view.n_steps)`
    if validated:
        loop["best_val"] = min(loop["best_val"], scalars["val_loss"])
    row.last, row.done = scalars, epoch
    loop["last"], loop["elapsed_s"] = scalars, row.time_before + time.perf_counter() - ctx.t_start
    if row.phase == 1 and validated and skip_star.phase1_over(train.skip_star, epoch, scalars["val_loss"], loop):
        view.switch_skips(r, train.skip_star)  # main-path weights and their optimizer state kept
        row.phase = 2
    # the stop is read first, so that a reporter that thins its checkpoints (the worker's time floor)
    # knows, when asked for this epoch's, that the run stops here and stores it
    row.stopped = row.reporter.should_stop()
    if row.stopped or epoch % train.checkpoint_every == 0 or epoch == train.epochs:
        row.reporter.checkpoint(epoch, view.capture(r, epoch, row.phase, row.generator, loop))
    return bool(row.stopped)


@dataclass
class _Run:
    """What every epoch of one `run_epochs` call reads."""

    train: Any
    plan: RecordPlan
    task: str
    n_classes: int
    per_item: int  # target entries per sample (pixels for segmentation, else 1)
    t_start: float
    t0: float = 0.0
    lr: float = 0.0


def run_epochs(view: Any, rows: list[Row], train: Any, plan: RecordPlan, *, task: str, n_classes: int,
               per_item: int = 1, start_epoch: int = 1, t_start: Optional[float] = None,
               on_leave: Optional[Callable[[Row, Any], None]] = None) -> list[Any]:
    """Train the view's rows from `start_epoch` to `train.epochs`; returns each row's FitResult
    (in the order of `rows`). `on_leave(row, result)` is called as soon as a row stops early."""
    ctx = _Run(train, plan, task, n_classes, per_item, time.perf_counter() if t_start is None else t_start)
    results: dict[int, Any] = {}
    active = list(rows)
    for epoch in range(start_epoch, train.epochs + 1):
        ctx.t0, ctx.lr = time.perf_counter(), lr_at(train, epoch)
        view.set_lr(ctx.lr)
        log_layers = plan.layers_at(epoch, train)
        parts = _train_epoch(view, train, plan, active, log_layers, task)
        drop = list(range(len(active))) if parts is None else _end_of_epoch(view, epoch, parts, active, log_layers, ctx)
        for r in drop:
            view.write_back(r)
            results[id(active[r])] = result(view, r, active[r], ctx)
            if on_leave is not None:
                on_leave(active[r], results[id(active[r])])
        if drop:
            keep = [r for r in range(len(active)) if r not in drop]
            active = [active[r] for r in keep]
            if not active:
                break
            view.keep(keep)
    for r, row in enumerate(active):
        view.write_back(r)
        results[id(row)] = result(view, r, row, ctx)
    return [results[id(row)] for row in rows]


def result(view: Any, r: int, row: Row, ctx: _Run) -> Any:
    """Row r's FitResult: final scalars, best val loss, training time, and (when it was not
    stopped) the test split evaluated once, with the trained weights written back."""
    summary = {k: v for k, v in row.last.items() if k in FIT_SUMMARY_KEYS}
    if math.isfinite(row.loop["best_val"]):
        summary["best_val_loss"] = row.loop["best_val"]
    summary["time_s"] = row.time_before + time.perf_counter() - ctx.t_start
    summary["val_every"] = ctx.train.val_interval(view.n_steps)
    if row.stopped is None:
        summary.update(evaluate_test_split(view.model(r), *row.test_split, ctx.task, ctx.n_classes))
    return FitResult(epochs_run=row.done, stopped=row.stopped, summary=summary, records=row.records())
