"""`fit()`: train one model (nanoGPT `train.py` style) on the loop every path shares.

Per epoch (`skipcore.train.epochs.run_epochs`): set the lr, shuffle with the loop's generator,
and for each batch forward, loss (+ L1), backward, clip, step, `zero_grad(set_to_none=True)`. The
training loss accumulates on the device and is read once per epoch (no per-step host sync); then
evaluate, report, checkpoint and ask the reporter whether to stop. Here: the optimizer, the layer
statistics of one model (`SingleView`, the K = 1 view of the loop), resume and the epoch-0 record.

Records that probes declared (`RECORDS`, `skipcore.train.records`: e.g. the first updates' gradients)
are returned in `FitResult.records` and saved in checkpoints; the worker hands them to the probes.
"""

from __future__ import annotations

import random
import time
from typing import Any, Iterable, Optional

import numpy as np
import torch
from torch import Tensor, nn

from skipcore.data.base import Dataset
from skipcore.probes import stats
from skipcore.train import checkpoint as ckpt
from skipcore.train import skip_star
from skipcore.train.device import pick_device
from skipcore.train.epochs import FitResult, Row, lr_at, new_loop_state, record_init, run_epochs
from skipcore.train.evaluate import EVAL_BATCH, eval_tensors, evaluate, evaluate_test_split, loss_fn
from skipcore.train.records import records_for
from skipcore.train.reporter import NullReporter, Reporter

__all__ = ["EVAL_BATCH", "FitResult", "evaluate", "evaluate_test_split", "fit", "grad_norms", "l1_weights",
           "loss_fn", "lr_at", "make_optimizer", "seed_everything", "weight_mean_abs"]


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


def l1_weights(model: nn.Module) -> list[Tensor]:
    """Weight matrices/kernels of Linear and Conv layers (not biases, not norm layers)."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
    return [m.weight for m in model.modules() if isinstance(m, kinds)]


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


class SingleView:
    """One model as the loop's view (K = 1; see `skipcore.train.epochs`): its own forward, loss,
    foreach layer statistics and `clip_grad_norm_`, on the data set's tensors."""

    row_shape: tuple[int, ...] = ()
    mid_epoch_stop = True

    def __init__(self, model: nn.Module, data: Dataset, train: Any, device: torch.device) -> None:
        self.net, self.data, self.device = model, data, device
        self.task, self.n_classes = data.info.task, data.info.n_outputs
        self.crit = loss_fn(self.task)
        self.n = len(data.x_train)
        self.bs = train.batch_size or self.n
        self.n_steps = (self.n + self.bs - 1) // self.bs
        self.opt = make_optimizer(model, train, device)
        self.l1_ws = l1_weights(model) if train.l1 > 0 else []
        self.layer_ws = _weights(model)
        self.n_layers = len(self.layer_ws)

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def start_epoch(self, gens: list[torch.Generator]) -> None:
        self.net.train()
        self.gen = gens[0]
        self.perm = torch.randperm(self.n, generator=self.gen, device=self.device)

    def batch(self, step: int) -> tuple[Tensor, Tensor, int]:
        idx = self.perm[step * self.bs : (step + 1) * self.bs]
        xb, yb = self.data.x_train[idx], self.data.y_train[idx]
        if self.data.augment is not None:
            xb = self.data.augment(xb, self.gen)
        return xb, yb, len(idx)

    def forward(self, xb: Tensor) -> Tensor:
        return self.net(xb)

    def loss(self, out: Tensor, yb: Tensor) -> Tensor:
        return self.crit(out, yb)

    def l1(self) -> Tensor:
        return sum(w.abs().sum() for w in self.l1_ws)

    def backward(self, total: Tensor) -> None:
        total.backward()

    def correct(self, out: Tensor, yb: Tensor) -> Tensor:
        return (out.detach().argmax(1) == yb).sum()

    def clip(self, max_norm: float) -> None:
        nn.utils.clip_grad_norm_(self.net.parameters(), max_norm, foreach=True)

    def grad_norms(self) -> Tensor:
        return grad_norms(self.layer_ws).unsqueeze(1)

    def weight_mean_abs(self) -> Tensor:
        return weight_mean_abs(self.layer_ws).unsqueeze(1)

    def evaluate(self) -> Tensor:
        return torch.stack(eval_tensors(self.net, self.data.x_val, self.data.y_val, self.task,
                                         self.n_classes)).unsqueeze(1)

    def switch_skips(self, r: int, star: Any) -> None:
        skip_star.switch_on(self.net, self.opt, star)

    def capture(self, r: int, epoch: int, phase: Optional[int], gen: torch.Generator, loop: dict) -> dict:
        return ckpt.capture(self.net, self.opt, epoch=epoch, phase=phase, generator=gen, loop=loop)

    def write_back(self, r: int) -> None:
        pass  # the model trains in place

    def keep(self, rows: list[int]) -> None:
        raise AssertionError("one model: a run that stops ends the loop")

    def model(self, r: int) -> nn.Module:
        return self.net


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

    `probes`: spec probe params; those whose module declares `RECORDS` (skipcore.train.records)
    add layer statistics (and an epoch-0 record) at their `every`, and the records they ask for.
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
    plan = records_for(probes)
    seed_everything(seed)
    g = torch.Generator(device=device).manual_seed(seed)
    model.to(device)
    data = data.to(device)
    view = SingleView(model, data, train, device)
    star = train.skip_star
    start_epoch, phase, loop = 1, (1 if star else None), new_loop_state()
    if resume is not None:
        ckpt.restore(resume, model, view.opt, g)
        start_epoch, phase, loop = resume["epoch"] + 1, resume["phase"], dict(resume["loop"])
    row = Row(reporter or NullReporter(), g, loop, phase, test_split, done=start_epoch - 1)
    if resume is None:
        if star:
            skip_star.check(model, star)
            model.set_skips(False)
        if plan.init:
            record_init(view, [row], view.task)
    per_item = data.y_train[0].numel() if view.task == "segmentation" else 1
    (res,) = run_epochs(view, [row], train, plan, task=view.task, n_classes=view.n_classes, per_item=per_item,
                        start_epoch=start_epoch, t_start=t_start)
    return res
