"""`fit()`: the one training loop (nanoGPT `train.py` style, one readable function).

Per epoch: set the lr, shuffle with the loop's generator, and for each batch forward, loss
(+ L1), backward, clip, step, `zero_grad(set_to_none=True)`. The training loss accumulates on the
device and is read once per epoch (no per-step host sync); then evaluate, report, checkpoint and
ask the reporter whether to stop.

Records that probes need after training (gradient_flow) are returned in `FitResult.records` and
also left on the model as the plain attribute `model._skipcore_records`, so a probe's
`run(model, data, params)` signature stays the same (see docs/architecture.md).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skipcore.data.base import Dataset
from skipcore.probes import stats
from skipcore.train import checkpoint as ckpt
from skipcore.train import skip_star
from skipcore.train.device import pick_device
from skipcore.train.reporter import NullReporter, Reporter

STOP_CHECK_STEPS = 50  # ask reporter.should_stop() this often inside long epochs
EVAL_BATCH = 1024
RECORDS_ATTR = "_skipcore_records"


@dataclass
class FitResult:
    epochs_run: int  # completed epochs (counting those before a resume)
    stopped: Optional[str]  # reason the loop stopped early, None if it ran to the end
    summary: dict[str, float]  # final train/val loss (and acc/iou), best_val_loss, time_s
    records: dict[str, Any] = field(default_factory=dict)  # gradient_flow: first_updates, every


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and python. Call it before `build_model` so init is seeded."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def make_optimizer(model: nn.Module, train: Any, device: torch.device) -> torch.optim.Optimizer:
    """adam/adamw: fused kernels where the device supports them, else foreach; sgd: momentum."""
    params = [p for p in model.parameters() if p.requires_grad]
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay, foreach=True)
    cls = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    try:
        return cls(params, lr=train.lr, weight_decay=train.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device/dtype
        return cls(params, lr=train.lr, weight_decay=train.weight_decay, foreach=True)


def lr_at(train: Any, epoch: int) -> float:
    """Per-epoch schedule: constant, or cosine from lr (epoch 1) towards 0 (after the last)."""
    if train.lr_schedule == "cosine":
        return train.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / train.epochs))
    return train.lr


def l1_weights(model: nn.Module) -> list[Tensor]:
    """Weight matrices/kernels of Linear and Conv layers (not biases, not norm layers)."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
    return [m.weight for m in model.modules() if isinstance(m, kinds)]


def loss_fn(task: str):
    if task == "regression":
        return F.mse_loss
    if task in ("classification", "segmentation"):
        return F.cross_entropy  # segmentation: out (N, C, H, W), y (N, H, W) long
    raise ValueError(f"unknown task {task!r}")


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, task: str, n_classes: int) -> dict[str, float]:
    """Validation loss (mean over every target entry, as in training), accuracy for classification
    (pixel accuracy and mean IoU over classes present for segmentation); one host sync."""
    host = torch.stack(_eval_tensors(model, x, y, task, n_classes)).tolist()
    return _eval_dict(host, task)


def _eval_dict(host: list[float], task: str) -> dict[str, float]:
    out = {"val_loss": host[0]}
    if task != "regression":
        out["val_acc"] = host[1]
    if task == "segmentation":
        out["val_iou"] = host[2]
    return out


@torch.no_grad()
def _eval_tensors(model: nn.Module, x: Tensor, y: Tensor, task: str, n_classes: int) -> list[Tensor]:
    """`evaluate`'s values as 0-d float tensors on the device (the caller reads them with its sync)."""
    was_training = model.training
    model.eval()
    crit = loss_fn(task)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    inter = torch.zeros(n_classes, device=x.device)
    union = torch.zeros(n_classes, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        xb, yb = x[i : i + EVAL_BATCH], y[i : i + EVAL_BATCH]
        out = model(xb)
        loss_sum += crit(out, yb, reduction="sum")
        if task != "regression":
            pred = out.argmax(1)
            correct += (pred == yb).sum()
        if task == "segmentation":
            cls = torch.arange(n_classes, device=x.device).view(-1, 1, 1, 1)
            p, t = pred.unsqueeze(0) == cls, yb.unsqueeze(0) == cls
            inter += (p & t).flatten(1).sum(1)
            union += (p | t).flatten(1).sum(1)
    model.train(was_training)
    values = [loss_sum / y.numel()]
    if task != "regression":
        values.append(correct / y.numel())
    if task == "segmentation":
        present = (union > 0).float()
        values.append((inter / union.clamp_min(1) * present).sum() / present.sum().clamp_min(1))
    return [v.float() for v in values]


def _weights(model: nn.Module) -> list[Tensor]:
    return [w for _, w in stats.layer_weights(model)]


@torch.no_grad()
def weight_mean_abs(ws: list[Tensor]) -> Tensor:
    """Mean |W| of each weight (as `stats.weight_mean_abs`), with one `_foreach_norm` call."""
    if not ws:
        return torch.zeros(0)
    return torch.stack(torch._foreach_norm([w.detach() for w in ws], 1)).float() / torch.tensor(
        [float(w.numel()) for w in ws], device=ws[0].device)


def grad_norms(ws: list[Tensor]) -> Tensor:
    """Frobenius norm of each weight's gradient (0 without one; as `stats.grad_norms`)."""
    if not ws:
        return torch.zeros(0)
    if all(w.grad is not None for w in ws):
        return torch.stack(torch._foreach_norm([w.grad.detach() for w in ws])).float()
    return torch.stack([w.grad.detach().norm() if w.grad is not None else torch.zeros((), device=w.device)
                        for w in ws]).float()


def fit(
    model: nn.Module,
    data: Dataset,
    train: Any,
    *,
    probes: Iterable[Any] = (),
    reporter: Optional[Reporter] = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    resume: Optional[dict] = None,
) -> FitResult:
    """Train `model` on `data` with `train` (spec TrainParams); see the module docstring.

    `probes`: spec probe params; weight_magnitude and gradient_flow add layer statistics (and an
    epoch-0 record) at their `every`, gradient_flow records the first `first_k` updates.
    `resume`: a state from `checkpoint.load`; the run continues at the next epoch, identically.
    Regression MSE is the mean over all output entries. With `train.skip_star` the model's skips
    are off in phase 1 and switched on once the rule fires (`skipcore.train.skip_star`: by
    default the skip weights start at zero, so the function is continuous); the `phase` scalar
    says which phase each epoch (and the epoch-0 record) trained in. Every decision (best val
    loss, the skip* switch) reads the validation split; a test split (`data.x_test`, when the
    data set has one) is evaluated once, after training, into the summary's `test_*` keys.
    """
    t_start = time.perf_counter()
    device = pick_device(device)
    test_split = (getattr(data, "x_test", None), getattr(data, "y_test", None))
    reporter = reporter or NullReporter()
    probes = list(probes)
    by_name = {p.name: p for p in probes}
    wm, gf = by_name.get("weight_magnitude"), by_name.get("gradient_flow")

    seed_everything(seed)
    g = torch.Generator(device=device).manual_seed(seed)
    model.to(device)
    data = data.to(device)
    task, n_classes = data.info.task, data.info.n_outputs
    crit = loss_fn(task)
    x_train, y_train = data.x_train, data.y_train
    n = len(x_train)
    bs = train.batch_size or n
    opt = make_optimizer(model, train, device)
    l1_ws = l1_weights(model) if train.l1 > 0 else []
    layer_ws = _weights(model)
    star = train.skip_star

    start_epoch, phase = 1, (1 if star else None)
    loop: dict[str, Any] = {"best_val": math.inf, "phase1_best": math.inf, "bad_epochs": 0,
                            "first_updates": [], "every": [], "steps": 0}
    if resume is not None:
        ckpt.restore(resume, model, opt, g)
        start_epoch, phase, loop = resume["epoch"] + 1, resume["phase"], dict(resume["loop"])
    else:
        if star:
            skip_star.check(model, star)
            model.set_skips(False)
        if wm or gf:  # epoch 0: the init, so init and trained weights can be compared
            vals = _eval_tensors(model, data.x_val, data.y_val, task, n_classes)
            host = torch.cat([torch.stack(vals), weight_mean_abs(layer_ws).to(vals[0].device)]).tolist()
            scalars0 = _eval_dict(host, task) | ({"phase": 1.0} if star else {})
            reporter.metrics(0, scalars0, {"weight_mean_abs": host[len(vals):]})

    def want_layers(epoch: int) -> bool:
        return (epoch % train.log_every == 0 or epoch == train.epochs
                or (wm is not None and epoch % wm.every == 0) or (gf is not None and epoch % gf.every == 0))

    stopped: Optional[str] = None
    # a checkpoint carries the last epoch's scalars and the training time so far: a run resumed
    # from its last epoch's checkpoint (killed during the probes) trains no epoch and still
    # reports its final numbers and its whole training time
    last: dict[str, float] = dict(loop.get("last", {}))
    time_before = float(loop.get("elapsed_s", 0.0))
    epoch_done = start_epoch - 1
    for epoch in range(start_epoch, train.epochs + 1):
        t0 = time.perf_counter()
        lr = lr_at(train, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        log_layers = want_layers(epoch)
        perm = torch.randperm(n, generator=g, device=device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        first_k: list[Tensor] = []
        n_steps = (n + bs - 1) // bs
        for step in range(n_steps):
            idx = perm[step * bs : (step + 1) * bs]
            xb, yb = x_train[idx], y_train[idx]
            if data.augment is not None:
                xb = data.augment(xb, g)
            out = model(xb)
            loss = crit(out, yb)
            total = loss + train.l1 * sum(w.abs().sum() for w in l1_ws) if l1_ws else loss
            total.backward()
            if gf is not None and loop["steps"] < gf.first_k:
                first_k.append(grad_norms(layer_ws))
            if log_layers and step == n_steps - 1:
                grad_norm = grad_norms(layer_ws)
            if train.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip, foreach=True)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loop["steps"] += 1
            loss_sum += loss.detach() * len(idx)
            if task != "regression":
                correct += (out.detach().argmax(1) == yb).sum()
            if step % STOP_CHECK_STEPS == STOP_CHECK_STEPS - 1 and step < n_steps - 1:
                stopped = reporter.should_stop()
                if stopped:
                    break
        if stopped:  # mid-epoch: this epoch is incomplete, so it is neither reported nor saved
            break

        # one host sync per epoch: train loss (and correct count), validation, layer statistics
        vals = _eval_tensors(model, data.x_val, data.y_val, task, n_classes)
        parts = [torch.stack([loss_sum / n, correct.float(), *vals])]
        if log_layers:
            parts += [weight_mean_abs(layer_ws).to(device), grad_norm.to(device)]
        host = torch.cat(parts).tolist()
        train_loss, n_correct, nv = host[0], host[1], len(vals)
        loop["first_updates"].extend(t.tolist() for t in first_k)
        val = _eval_dict(host[2 : 2 + nv], task)
        bad = [v for v in (train_loss, val["val_loss"]) if not math.isfinite(v)]
        if bad:
            stopped = f"loss became {'nan' if math.isnan(bad[0]) else 'inf'} at epoch {epoch}"
            break

        scalars = {"train_loss": train_loss, **val, "epoch_time": time.perf_counter() - t0, "lr": lr}
        if task != "regression":
            per_item = y_train[0].numel() if task == "segmentation" else 1
            scalars["train_acc"] = n_correct / (n * per_item)
        if phase is not None:
            scalars["phase"] = float(phase)
        layers: dict[str, list[float]] = {}
        if log_layers:
            L = len(layer_ws)
            wma, gn = host[2 + nv : 2 + nv + L], host[2 + nv + L : 2 + nv + 2 * L]
            layers = {"weight_mean_abs": wma, "grad_norm": gn}
            if gf is not None and epoch % gf.every == 0:
                loop["every"].append({"epoch": epoch, "grad_norm": gn})
        reporter.metrics(epoch, scalars, layers)
        loop["best_val"] = min(loop["best_val"], val["val_loss"])
        last, epoch_done = scalars, epoch
        loop["last"], loop["elapsed_s"] = scalars, time_before + time.perf_counter() - t_start

        if phase == 1 and skip_star.phase1_over(star, epoch, val["val_loss"], loop):
            skip_star.switch_on(model, opt, star)  # main-path weights and their optimizer state kept
            phase = 2

        saved = epoch % train.checkpoint_every == 0 or epoch == train.epochs
        if saved:
            reporter.checkpoint(epoch, ckpt.capture(model, opt, epoch=epoch, phase=phase, generator=g, loop=loop))
        stopped = reporter.should_stop()
        if stopped:
            if not saved:
                reporter.checkpoint(epoch, ckpt.capture(model, opt, epoch=epoch, phase=phase, generator=g, loop=loop))
            break

    records = {"first_updates": loop["first_updates"], "every": loop["every"]}
    setattr(model, RECORDS_ATTR, records)
    summary = {k: v for k, v in last.items() if k in ("train_loss", "val_loss", "train_acc", "val_acc", "val_iou")}
    if math.isfinite(loop["best_val"]):
        summary["best_val_loss"] = loop["best_val"]
    summary["time_s"] = time_before + time.perf_counter() - t_start
    if stopped is None:
        summary.update(evaluate_test_split(model, *test_split, task, n_classes))
    return FitResult(epochs_run=epoch_done, stopped=stopped, summary=summary, records=records)


def evaluate_test_split(model: nn.Module, x_test: Optional[Tensor], y_test: Optional[Tensor], task: str,
                        n_classes: int) -> dict[str, float]:
    """`test_loss` and `test_acc` / `test_iou` of the trained model on a test split ({} without one);
    evaluated once, after training, and used for no training decision."""
    if x_test is None or y_test is None:
        return {}
    device = next(model.parameters()).device
    got = evaluate(model, x_test.to(device), y_test.to(device), task, n_classes)
    return {k.replace("val_", "test_", 1): v for k, v in got.items()}
