"""Train K seeds of one MLP in a single batched pass (`skipcore.train.stacked`), as K `fit`s would.

`fit_ensemble(models, datasets, train, seeds=..., probes=..., reporters=...)` trains model k on
dataset k with seed k and reports through reporters[k] exactly what `fit` would report for that
run: the epoch-0 record when weight_magnitude / gradient_flow are on, per-epoch scalars, layer
statistics at the same epochs, per-seed checkpoints in `fit`'s resume format (the slices of the
stacked state), and `FitResult`s with the gradient_flow records. What makes it the same training:

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

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skipcore.data.base import Dataset
from skipcore.train import checkpoint as ckpt
from skipcore.train.device import pick_device
from skipcore.train.loop import (EVAL_BATCH, RECORDS_ATTR, FitResult, evaluate_test_split, l1_weights, lr_at,
                                 make_optimizer, seed_everything)
from skipcore.train.reporter import NullReporter, Reporter
from skipcore.train.ensemble_rules import STACKED_FAMILIES, build_models, spec_reason, unsupported_reason
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
    K0 = len(models)
    reporters = list(reporters) if reporters is not None else [NullReporter() for _ in models]
    by_name = {p.name: p for p in probes}
    wm, gf = by_name.get("weight_magnitude"), by_name.get("gradient_flow")
    task, n_classes = datasets[0].info.task, datasets[0].info.n_outputs
    rngs = []
    for s in seeds:  # the global RNG state `fit` would checkpoint (nothing draws from it after seeding)
        seed_everything(s)
        rngs.append(ckpt.rng_state())
    for m in models:
        m.to(device).train()
    xs = torch.stack([d.x_train.to(device) for d in datasets])
    ys = torch.stack([d.y_train.to(device) for d in datasets])
    xv = torch.stack([d.x_val.to(device) for d in datasets])
    yv = torch.stack([d.y_val.to(device) for d in datasets])
    n = xs.shape[1]
    bs = train.batch_size or n
    st = Stacked(models, device)
    names = [nm for nm in st.shapes if st.params[nm].requires_grad]
    opt = _optimizer(st, train, device)
    l1_names: list[str] = []
    if train.l1 > 0:
        ids = {id(w) for w in l1_weights(models[0])}
        l1_names = [nm for nm, p in models[0].named_parameters() if id(p) in ids]

    active = list(range(K0))  # row r of the stacked tensors is seed active[r]
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    loops = [{"best_val": math.inf, "phase1_best": math.inf, "bad_epochs": 0, "first_updates": [], "every": [],
              "steps": 0} for _ in range(K0)]
    hist: list[dict[str, list[float]]] = [{"train_loss": [], "val_loss": [], "val_acc": []} for _ in range(K0)]
    last: list[dict[str, float]] = [{} for _ in range(K0)]
    stopped: list[Optional[str]] = [None] * K0
    done = [0] * K0

    if wm or gf:  # epoch 0: the init
        val = _evaluate(st, xv, yv, task)
        host = torch.cat([val.flatten(), st.weight_mean_abs().T.flatten()]).tolist()
        nv, L = val.shape[0], len(st.layer_weights)
        for r, k in enumerate(active):
            scalars = {"val_loss": host[r]} if nv == 1 else {"val_loss": host[r], "val_acc": host[K0 + r]}
            w0 = nv * K0 + r * L
            reporters[k].metrics(0, scalars, {"weight_mean_abs": host[w0 : w0 + L]})

    def _result(k: int) -> FitResult:
        records = {"first_updates": loops[k]["first_updates"], "every": loops[k]["every"]}
        setattr(models[k], RECORDS_ATTR, records)
        summary = {key: v for key, v in last[k].items() if key in ("train_loss", "val_loss", "train_acc", "val_acc")}
        if math.isfinite(loops[k]["best_val"]):
            summary["best_val_loss"] = loops[k]["best_val"]
        summary["time_s"] = time.perf_counter() - t_start
        if stopped[k] is None:  # as `fit`: the test split once, after training (weights written back)
            d = datasets[k]
            summary.update(evaluate_test_split(models[k], getattr(d, "x_test", None), getattr(d, "y_test", None),
                                               task, n_classes))
        return FitResult(epochs_run=done[k], stopped=stopped[k], summary=summary, records=records)

    def want_layers(epoch: int) -> bool:
        return (epoch % train.log_every == 0 or epoch == train.epochs
                or (wm is not None and epoch % wm.every == 0) or (gf is not None and epoch % gf.every == 0))

    n_steps = (n + bs - 1) // bs
    for epoch in range(1, train.epochs + 1):
        t0 = time.perf_counter()
        lr = lr_at(train, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        log_layers = want_layers(epoch)
        K = len(active)
        rows = torch.arange(K, device=device).unsqueeze(1)
        sel = torch.tensor(active, device=device)
        perms = torch.stack([torch.randperm(n, generator=gens[k], device=device) for k in active])
        x_e, y_e = xs[sel], ys[sel]
        loss_sum = torch.zeros(K, device=device)
        correct = torch.zeros(K, device=device)
        first_k: list[Tensor] = []
        grad_norm = None
        for step in range(n_steps):
            idx = perms[:, step * bs : (step + 1) * bs]
            xb, yb = x_e[rows, idx], y_e[rows, idx]
            out = st.forward(xb)
            loss = _per_seed_loss(task, out, yb)
            total = loss
            if l1_names:
                total = total + train.l1 * sum(st.params[nm].abs().flatten(1).sum(1) for nm in l1_names)
            total.sum().backward()
            if gf is not None and loops[active[0]]["steps"] < gf.first_k:
                first_k.append(st.grad_norms())
            if log_layers and step == n_steps - 1:
                grad_norm = st.grad_norms()
            if train.grad_clip is not None:
                _clip_per_seed(st.leaves(), train.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            for k in active:
                loops[k]["steps"] += 1
            loss_sum += loss.detach() * idx.shape[1]
            if task != "regression":
                correct += (out.detach().argmax(-1) == yb).flatten(1).sum(1)

        # one host sync per epoch: train loss, val loss (+acc), train acc, layer statistics
        val = _evaluate(st, xv[sel], yv[sel], task)
        parts = [loss_sum / n, val.flatten()]
        if task != "regression":
            parts.append(correct / n)
        if log_layers:
            parts += [st.weight_mean_abs().T.flatten(), grad_norm.T.flatten()]
        parts += [t.T.flatten() for t in first_k]
        host = torch.cat(parts).tolist()
        epoch_time = time.perf_counter() - t0
        L = len(st.layer_weights)
        off = K * (2 + val.shape[0])  # train loss, val rows, train acc (classification)
        if task == "regression":
            off = K * 2
        drop: list[int] = []
        for r, k in enumerate(active):
            tl, vl = host[r], host[K + r]
            if not (math.isfinite(tl) and math.isfinite(vl)):
                bad = tl if not math.isfinite(tl) else vl
                stopped[k] = f"loss became {'nan' if math.isnan(bad) else 'inf'} at epoch {epoch}"
                drop.append(r)
                continue
            vals = {"val_loss": vl}
            if task != "regression":
                vals["val_acc"] = host[2 * K + r]
            scalars = {"train_loss": tl, **vals, "epoch_time": epoch_time, "lr": lr}
            if task != "regression":
                scalars["train_acc"] = host[(1 + val.shape[0]) * K + r]
            layers: dict[str, list[float]] = {}
            o = off
            if log_layers:
                layers = {"weight_mean_abs": host[o + r * L : o + (r + 1) * L],
                          "grad_norm": host[o + K * L + r * L : o + K * L + (r + 1) * L]}
                o += 2 * K * L
                if gf is not None and epoch % gf.every == 0:
                    loops[k]["every"].append({"epoch": epoch, "grad_norm": layers["grad_norm"]})
            for j in range(len(first_k)):
                base = o + j * K * L
                loops[k]["first_updates"].append(host[base + r * L : base + (r + 1) * L])
            reporters[k].metrics(epoch, scalars, layers)
            loops[k]["best_val"] = min(loops[k]["best_val"], vl)
            last[k], done[k] = scalars, epoch
            loops[k]["last"], loops[k]["elapsed_s"] = scalars, time.perf_counter() - t_start  # as `fit`
            hist[k]["train_loss"].append(tl)
            hist[k]["val_loss"].append(vl)
            if task != "regression":
                hist[k]["val_acc"].append(vals["val_acc"])
            saved = epoch % train.checkpoint_every == 0 or epoch == train.epochs
            if saved:
                reporters[k].checkpoint(epoch, _capture(st, r, models[k], opt, names, epoch, gens[k], loops[k], rngs[k]))
            stopped[k] = reporters[k].should_stop()
            if stopped[k]:
                if not saved:
                    reporters[k].checkpoint(epoch, _capture(st, r, models[k], opt, names, epoch, gens[k], loops[k],
                                                            rngs[k]))
                drop.append(r)
        if drop:
            for r in drop:
                st.write_back(r, models[active[r]])
                if on_leave is not None:
                    on_leave(active[r], _result(active[r]))
            keep = [r for r in range(K) if r not in drop]
            active = [active[r] for r in keep]
            if not active:
                break
            opt = _compact(st, opt, names, keep, train, device)

    for r, k in enumerate(active):
        st.write_back(r, models[k])
    results = [_result(k) for k in range(K0)]
    return EnsembleResult(list(seeds), [h["train_loss"] for h in hist], [h["val_loss"] for h in hist],
                          [h["val_acc"] for h in hist] if task != "regression" else [],
                          time.perf_counter() - t_start, list(models), results)


@torch.no_grad()
def _evaluate(st: Stacked, xv: Tensor, yv: Tensor, task: str) -> Tensor:
    """(1 or 2, K): per-seed val loss (mean over every target entry) and accuracy, as `evaluate`."""
    K = xv.shape[0]
    loss_sum = torch.zeros(K, device=xv.device)
    correct = torch.zeros(K, device=xv.device)
    for i in range(0, xv.shape[1], EVAL_BATCH):
        out = st.forward(xv[:, i : i + EVAL_BATCH])
        yb = yv[:, i : i + EVAL_BATCH]
        loss_sum += _per_seed_loss(task, out, yb, reduction="sum")
        if task != "regression":
            correct += (out.argmax(-1) == yb).flatten(1).sum(1)
    per = yv[0].numel()
    return torch.stack([loss_sum / per] if task == "regression" else [loss_sum / per, correct / per])


def _optimizer(st: Stacked, train: Any, device: torch.device) -> torch.optim.Optimizer:
    holder = nn.Module()  # make_optimizer only calls .parameters()
    leaves = st.leaves()
    holder.parameters = lambda: iter(leaves)  # type: ignore[method-assign]
    return make_optimizer(holder, train, device)


def _compact(st: Stacked, opt: torch.optim.Optimizer, names: list[str], keep: list[int], train: Any,
             device: torch.device) -> torch.optim.Optimizer:
    """Keep rows `keep` of every stacked tensor and of the optimizer state."""
    rows = torch.tensor(keep, device=device)
    sd = slice_optimizer_state(opt.state_dict(), st, names, lambda _n, v: v[rows].clone())
    st.keep(rows)
    new = _optimizer(st, train, device)
    new.load_state_dict(sd)
    return new


def _capture(st: Stacked, r: int, model: nn.Module, opt: torch.optim.Optimizer, names: list[str], epoch: int,
             gen: torch.Generator, loop: dict[str, Any], rng: dict[str, Any]) -> dict[str, Any]:
    """Row r's checkpoint in `fit`'s format (`checkpoint.capture`), so the run resumes with `fit`."""
    st.write_back(r, model)
    sd = slice_optimizer_state(opt.state_dict(), st, names, lambda nm, v: st.unstack(nm, v[r]))
    return {"format": ckpt.FORMAT, "epoch": epoch, "phase": None, "model": model.state_dict(), "optimizer": sd,
            "rng": rng, "generator": gen.get_state(), "loop": dict(loop)}


def _clip_per_seed(stacked: Sequence[Tensor], max_norm: float) -> None:
    """clip_grad_norm_ of each seed separately: norms over dims 1.. of every stacked grad."""
    grads = [p.grad for p in stacked if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0)  # (K,)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
