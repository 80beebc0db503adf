"""Train K seeds of one MLP in a single batched pass (`skipcore.train.stacked`), as K `fit`s would:
the same loop (`skipcore.train.epochs.run_epochs`) over a `StackedView` of the K models.

`fit_ensemble(models, datasets, train, seeds=..., probes=..., reporters=...)` trains model k on
dataset k with seed k and reports through reporters[k] exactly what `fit` would report for that
run: the epoch-0 record when the probes' RECORDS ask for it, per-epoch scalars, layer
statistics at the same epochs, per-seed checkpoints in `fit`'s resume format (the slices of the
stacked state), and `FitResult`s with the records the probes declared. What makes it the same training:

- init: the caller builds model k after `seed_everything(seed_k)` (`build_models` does, in the
  worker's order: data, seed, model), so the weights are those of the sequential run;
- batch order: seed k has its own `torch.Generator(device).manual_seed(seed_k)`, one `randperm`
  per epoch, as `fit` draws it;
- loss: the sum over seeds of each seed's mean loss, so each seed's gradient is its own;
- optimizer: Adam/AdamW/SGD(momentum) are elementwise, so one optimizer over the stacked tensors
  is K independent optimizers (shared step count and lr schedule); gradient clipping and L1 are
  per seed.

A seed whose loss becomes nan/inf, or whose reporter asks to stop (checked at epoch ends, not
every 50 steps), leaves the group at that epoch (its FitResult says why, as `fit`'s would); the
others go on with the stacked tensors of the kept seeds. Results equal sequential `fit` up to
float32 rounding (batched matmuls sum in another order): tests/skipcore/test_ensemble.py.

Not supported (`unsupported_reason`; the caller runs those runs with `fit`): families without a
stacked forward (CNNs), batch norm, dropout / stochastic depth < 1, skip* (each seed switches
phase at its own epoch), batch augmentation, segmentation, resume, differing shapes (sweeps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skipcore.data.base import Dataset
from skipcore.train import checkpoint as ckpt
from skipcore.train.device import pick_device
from skipcore.train.ensemble_rules import STACKED_FAMILIES, build_models, spec_reason, unsupported_reason
from skipcore.train.epochs import FitResult, Row, record_init, run_epochs
from skipcore.train.evaluate import EVAL_BATCH
from skipcore.train.loop import l1_weights, make_optimizer, seed_everything
from skipcore.train.records import records_for
from skipcore.train.reporter import NullReporter, Reporter
from skipcore.train.stacked import Stacked, slice_optimizer_state

__all__ = ["EnsembleResult", "STACKED_FAMILIES", "build_models", "fit_ensemble", "spec_reason",
           "unsupported_reason"]


@dataclass
class EnsembleResult:
    seeds: list[int]
    train_loss: list[list[float]]  # [seed][epoch-1]
    val_loss: list[list[float]]
    val_acc: list[list[float]] = field(default_factory=list)  # classification only
    time_s: float = 0.0
    models: list[nn.Module] = field(default_factory=list)  # the trained weights, unstacked
    results: list[FitResult] = field(default_factory=list)  # what `fit` would return, per seed


def _per_seed_loss(task: str, out: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """(K,) mean (or sum) loss of each seed; out (K, B, ...), y (K, B, ...)."""
    if task == "regression":
        per = (out - y).pow(2).flatten(1)
    else:
        k, b = out.shape[:2]
        per = F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(k, b)
    return per.mean(1) if reduction == "mean" else per.sum(1)


class _History:
    """A reporter in front of a seed's own: keeps the per-epoch losses `EnsembleResult` lists."""

    def __init__(self, inner: Reporter) -> None:
        self.inner, self.hist = inner, {"train_loss": [], "val_loss": [], "val_acc": []}

    def metrics(self, epoch: int, scalars: dict[str, float], layers: dict[str, list[float]]) -> None:
        if epoch > 0:
            for key, values in self.hist.items():
                if key in scalars:
                    values.append(scalars[key])
        self.inner.metrics(epoch, scalars, layers)

    def checkpoint(self, epoch: int, state: dict) -> None:
        self.inner.checkpoint(epoch, state)

    def should_stop(self) -> Optional[str]:
        return self.inner.should_stop()


def fit_ensemble(models: Sequence[nn.Module], datasets: Sequence[Dataset], train: Any, *,
                 seeds: Sequence[int], probes: Sequence[Any] = (),
                 reporters: Optional[Sequence[Reporter]] = None,
                 device: str | torch.device = "cpu",
                 on_leave: Optional[Callable[[int, FitResult], None]] = None) -> EnsembleResult:
    """Train models[k] on datasets[k] with seeds[k], all at once; see the module docstring.
    `on_leave(k, result)` is called as soon as seed k leaves the group early (stop, divergence)."""
    t_start = time.perf_counter()
    why = unsupported_reason(models, datasets, train, probes)
    if why:
        raise ValueError(f"cannot train as an ensemble: {why}")
    device = pick_device(device)
    task, n_classes = datasets[0].info.task, datasets[0].info.n_outputs
    rngs = []
    for s in seeds:  # the global RNG state `fit` would checkpoint (nothing draws from it after seeding)
        seed_everything(s)
        rngs.append(ckpt.rng_state())
    view = StackedView(models, datasets, train, device, rngs)
    hists = [_History(rep) for rep in (reporters if reporters is not None else [NullReporter() for _ in models])]
    rows = [Row(h, torch.Generator(device=device).manual_seed(s),
                test_split=(getattr(d, "x_test", None), getattr(d, "y_test", None)))
            for h, s, d in zip(hists, seeds, datasets)]
    plan = records_for(probes)
    if plan.init:
        record_init(view, rows, task)
    index = {id(row): k for k, row in enumerate(rows)}
    leave = None if on_leave is None else (lambda row, res: on_leave(index[id(row)], res))
    results = run_epochs(view, rows, train, plan, task=task, n_classes=n_classes, t_start=t_start, on_leave=leave)
    return EnsembleResult(list(seeds), [h.hist["train_loss"] for h in hists], [h.hist["val_loss"] for h in hists],
                          [h.hist["val_acc"] for h in hists] if task != "regression" else [],
                          time.perf_counter() - t_start, list(models), results)


class StackedView:
    """K models of one family as the loop's view (see `skipcore.train.epochs`): their stacked
    weights (`Stacked`), one optimizer over them, per-seed losses, L1, clipping and statistics.
    Row r is `models[rows[r]]`; `keep` drops the seeds that left, with their optimizer state."""

    mid_epoch_stop = False  # a seed cannot leave in the middle of the others' epoch

    def __init__(self, models: Sequence[nn.Module], datasets: Sequence[Dataset], train: Any, device: torch.device,
                 rngs: list[dict[str, Any]]) -> None:
        for m in models:
            m.to(device).train()
        self.models, self.train, self.device, self.rngs = list(models), train, device, rngs
        self.task = datasets[0].info.task
        self.xs = torch.stack([d.x_train.to(device) for d in datasets])
        self.ys = torch.stack([d.y_train.to(device) for d in datasets])
        self.xv = torch.stack([d.x_val.to(device) for d in datasets])
        self.yv = torch.stack([d.y_val.to(device) for d in datasets])
        self.n = self.xs.shape[1]
        self.bs = train.batch_size or self.n
        self.n_steps = (self.n + self.bs - 1) // self.bs
        self.st = Stacked(models, device)
        self.n_layers = len(self.st.layer_weights)
        self.names = [nm for nm in self.st.shapes if self.st.params[nm].requires_grad]
        self.opt = self._optimizer()
        ids = {id(w) for w in l1_weights(models[0])} if train.l1 > 0 else set()
        self.l1_names = [nm for nm, p in models[0].named_parameters() if id(p) in ids]
        self.rows = list(range(len(models)))

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (len(self.rows),)

    def _optimizer(self) -> torch.optim.Optimizer:
        holder = nn.Module()  # make_optimizer only calls .parameters()
        leaves = self.st.leaves()
        holder.parameters = lambda: iter(leaves)  # type: ignore[method-assign]
        return make_optimizer(holder, self.train, self.device)

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def start_epoch(self, gens: list[torch.Generator]) -> None:
        K = len(self.rows)
        self.perms = torch.stack([torch.randperm(self.n, generator=g, device=self.device) for g in gens])
        sel = torch.tensor(self.rows, device=self.device)
        self.x_e, self.y_e = self.xs[sel], self.ys[sel]
        self.index = torch.arange(K, device=self.device).unsqueeze(1)

    def batch(self, step: int) -> tuple[Tensor, Tensor, int]:
        idx = self.perms[:, step * self.bs : (step + 1) * self.bs]
        return self.x_e[self.index, idx], self.y_e[self.index, idx], idx.shape[1]

    def forward(self, xb: Tensor) -> Tensor:
        return self.st.forward(xb)

    def loss(self, out: Tensor, yb: Tensor) -> Tensor:
        return _per_seed_loss(self.task, out, yb)

    def l1(self) -> Tensor:
        return sum(self.st.params[nm].abs().flatten(1).sum(1) for nm in self.l1_names)

    def backward(self, total: Tensor) -> None:
        total.sum().backward()

    def correct(self, out: Tensor, yb: Tensor) -> Tensor:
        return (out.detach().argmax(-1) == yb).flatten(1).sum(1)

    def clip(self, max_norm: float) -> None:
        """clip_grad_norm_ of each seed separately: norms over dims 1.. of every stacked grad."""
        grads = [p.grad for p in self.st.leaves() if p.grad is not None]
        if not grads:
            return
        sq = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0)  # (K,)
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def grad_norms(self) -> Tensor:
        return self.st.grad_norms()

    def weight_mean_abs(self) -> Tensor:
        return self.st.weight_mean_abs()

    @torch.no_grad()
    def evaluate(self) -> Tensor:
        """(1 or 2, K): per-seed val loss (mean over every target entry) and accuracy, as `evaluate`."""
        sel = torch.tensor(self.rows, device=self.device)
        xv, yv = self.xv[sel], self.yv[sel]
        K = len(self.rows)
        loss_sum = torch.zeros(K, device=self.device)
        correct = torch.zeros(K, device=self.device)
        for i in range(0, xv.shape[1], EVAL_BATCH):
            out = self.st.forward(xv[:, i : i + EVAL_BATCH])
            yb = yv[:, i : i + EVAL_BATCH]
            loss_sum += _per_seed_loss(self.task, out, yb, reduction="sum")
            if self.task != "regression":
                correct += (out.argmax(-1) == yb).flatten(1).sum(1)
        per = yv[0].numel()
        return torch.stack([loss_sum / per] if self.task == "regression" else [loss_sum / per, correct / per])

    def switch_skips(self, r: int, star: Any) -> None:
        raise AssertionError("skip* runs train alone (unsupported_reason)")

    def capture(self, r: int, epoch: int, phase: Optional[int], gen: torch.Generator, loop: dict) -> dict:
        """Row r's checkpoint in `fit`'s format (`checkpoint.capture`), so the run resumes with `fit`."""
        model = self.model(r)
        self.st.write_back(r, model)
        sd = slice_optimizer_state(self.opt.state_dict(), self.st, self.names,
                                   lambda nm, v: self.st.unstack(nm, v[r]))
        return {"format": ckpt.FORMAT, "epoch": epoch, "phase": phase, "model": model.state_dict(),
                "optimizer": sd, "rng": self.rngs[self.rows[r]], "generator": gen.get_state(), "loop": dict(loop)}

    def write_back(self, r: int) -> None:
        self.st.write_back(r, self.model(r))

    def model(self, r: int) -> nn.Module:
        return self.models[self.rows[r]]

    def keep(self, keep: list[int]) -> None:
        """Keep rows `keep` of every stacked tensor and of the optimizer state."""
        rows = torch.tensor(keep, device=self.device)
        sd = slice_optimizer_state(self.opt.state_dict(), self.st, self.names, lambda _n, v: v[rows].clone())
        self.st.keep(rows)
        self.opt = self._optimizer()
        self.opt.load_state_dict(sd)
        self.rows = [self.rows[r] for r in keep]
