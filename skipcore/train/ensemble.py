"""Train K seeds of one architecture in a single vectorised pass (`torch.func`).

`fit_ensemble(models, datasets, train, seeds=...)` trains model k on dataset k with seed k, as K
sequential `fit` calls would, but every step runs the K models at once: their parameters are
stacked (`stack_module_state`, leading dim K), the forward is `vmap(functional_call)` over the
stacked weights and the per-seed batches, and one optimizer steps the stacked tensors. What makes
it the same training per seed:

- init: the caller builds model k after `seed_everything(seed_k)` (`build_models` does, in the
  worker's order: data, seed, model), so the weights are those of the sequential run;
- batch order: seed k has its own `torch.Generator(device).manual_seed(seed_k)`, one
  `randperm` per epoch, exactly as `fit` draws it;
- loss: the sum over seeds of each seed's mean loss, so each seed's gradient is its own;
- optimizer: Adam/AdamW/SGD(momentum) are elementwise, so one optimizer over stacked tensors is K
  independent optimizers (shared step count, same lr schedule); gradient clipping is per seed.

Results equal sequential `fit` up to float32 rounding (batched matmuls sum in another order):
tests/skipcore/test_ensemble.py checks losses to rtol 1e-4 after a few epochs.

Not supported (`unsupported_reason` says which; the caller falls back to sequential `fit`):
batch norm (running statistics are per-seed in-place updates), stochastic depth / dropout
(random draws would not match the sequential RNG streams), skip* (each seed switches phase at its
own epoch), batch augmentation, segmentation, probes that record per-layer statistics during
training (weight_magnitude, gradient_flow), resume, and models whose parameter shapes differ.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from skipcore.data.base import Dataset
from skipcore.train.device import pick_device
from skipcore.train.loop import EVAL_BATCH, l1_weights, lr_at, make_optimizer, seed_everything

RECORDING_PROBES = ("weight_magnitude", "gradient_flow")
_RANDOM_MODULES = ("Dropout", "DropPath", "StochasticDepth")


@dataclass
class EnsembleResult:
    seeds: list[int]
    train_loss: list[list[float]]  # [seed][epoch-1]
    val_loss: list[list[float]]
    val_acc: list[list[float]] = field(default_factory=list)  # classification only
    time_s: float = 0.0
    models: list[nn.Module] = field(default_factory=list)  # the trained weights, unstacked


def unsupported_reason(models: Sequence[nn.Module], datasets: Sequence[Dataset], train: Any,
                       probes: Sequence[Any] = ()) -> Optional[str]:
    """Why these runs cannot be trained as one ensemble (None: they can)."""
    if len(models) != len(datasets) or not models:
        return "needs one dataset per model"
    if getattr(train, "skip_star", None) is not None:
        return "skip*: each seed switches phase at its own epoch"
    if any(p.name in RECORDING_PROBES for p in probes):
        return "probes that record per-layer statistics during training"
    shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        return "parameter shapes differ between models"
    for m in models[0].modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return "batch norm (per-seed running statistics)"
        if type(m).__name__ in _RANDOM_MODULES:
            return "random layers (dropout / stochastic depth) draw from other RNG streams"
    if any(getattr(m, "stochastic_depth", 1.0) < 1.0 or getattr(m, "survival", 1.0) < 1.0
           for m in models[0].modules()):
        return "stochastic depth draws from other RNG streams"
    for d in datasets:
        if d.augment is not None:
            return "batch augmentation"
        if d.info.task == "segmentation":
            return "segmentation"
    if any(d.x_train.shape != datasets[0].x_train.shape for d in datasets):
        return "datasets differ in size"
    return None


def build_models(model_params: Any, data_params: Any, seeds: Sequence[int], *, root: Any = ".",
                 device: Any = "cpu") -> tuple[list[nn.Module], list[Dataset]]:
    """Data and model of each seed, in the worker's order (load data, seed everything, build)."""
    from skipcore.data import load_dataset
    from skipcore.models import build_model

    models, datasets = [], []
    for seed in seeds:
        data = load_dataset(data_params, seed=seed, root=root, device=device)
        seed_everything(seed)
        models.append(build_model(model_params, data.info).to(device))
        datasets.append(data)
    return models, datasets


def _per_seed_loss(task: str, out: Tensor, y: Tensor) -> Tensor:
    """(K,) mean loss of each seed; out (K, B, ...), y (K, B, ...)."""
    if task == "regression":
        return (out - y).pow(2).flatten(1).mean(1)
    k, b = out.shape[:2]
    return F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(k, b).mean(1)


def fit_ensemble(models: Sequence[nn.Module], datasets: Sequence[Dataset], train: Any, *,
                 seeds: Sequence[int], device: str | torch.device = "cpu") -> EnsembleResult:
    """Train models[k] on datasets[k] with seeds[k], all at once; see the module docstring."""
    t_start = time.perf_counter()
    reason = unsupported_reason(models, datasets, train)
    if reason:
        raise ValueError(f"cannot train as an ensemble: {reason}")
    device = pick_device(device)
    K = len(models)
    task = datasets[0].info.task
    for m in models:
        m.to(device).train()
    xs = torch.stack([d.x_train.to(device) for d in datasets])
    ys = torch.stack([d.y_train.to(device) for d in datasets])
    xv = torch.stack([d.x_val.to(device) for d in datasets])
    yv = torch.stack([d.y_val.to(device) for d in datasets])
    n = xs.shape[1]
    bs = train.batch_size or n

    params, buffers = stack_module_state(list(models))  # leaves, leading dim K
    base = copy.deepcopy(models[0]).to("meta")

    def one(p: dict, b: dict, x: Tensor) -> Tensor:
        return functional_call(base, (p, b), (x,))

    forward = vmap(one, in_dims=(0, 0, 0))
    stacked = list(params.values())
    holder = nn.Module()  # make_optimizer only calls .parameters()
    holder.parameters = lambda: iter(stacked)  # type: ignore[method-assign]
    opt = make_optimizer(holder, train, device)
    l1_names = set()
    if train.l1 > 0:
        ids = {id(w) for w in l1_weights(models[0])}
        l1_names = {nm for nm, p in models[0].named_parameters() if id(p) in ids}

    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    rows = torch.arange(K, device=device).unsqueeze(1)
    hist_train: list[list[float]] = [[] for _ in range(K)]
    hist_val: list[list[float]] = [[] for _ in range(K)]
    hist_acc: list[list[float]] = [[] for _ in range(K)]
    n_steps = (n + bs - 1) // bs
    for epoch in range(1, train.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(train, epoch)
        perms = torch.stack([torch.randperm(n, generator=g, device=device) for g in gens])
        loss_sum = torch.zeros(K, device=device)
        for step in range(n_steps):
            idx = perms[:, step * bs : (step + 1) * bs]
            xb, yb = xs[rows, idx], ys[rows, idx]
            loss = _per_seed_loss(task, forward(params, buffers, xb), yb)
            total = loss
            if l1_names:
                total = total + train.l1 * sum(params[nm].abs().flatten(1).sum(1) for nm in l1_names)
            total.sum().backward()
            if train.grad_clip is not None:
                _clip_per_seed(stacked, train.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.detach() * idx.shape[1]
        with torch.no_grad():
            vals, accs = [], []
            for i in range(0, xv.shape[1], EVAL_BATCH):
                out = forward(params, buffers, xv[:, i : i + EVAL_BATCH])
                yb = yv[:, i : i + EVAL_BATCH]
                vals.append(_per_seed_loss(task, out, yb) * yb[0].numel())
                if task != "regression":
                    accs.append((out.argmax(-1) == yb).flatten(1).sum(1).float())
            rows_out = [loss_sum / n, torch.stack(vals).sum(0) / yv[0].numel()]
            if accs:
                rows_out.append(torch.stack(accs).sum(0) / yv[0].numel())
            host = torch.stack(rows_out).tolist()  # one host sync per epoch
        for k in range(K):
            hist_train[k].append(host[0][k])
            hist_val[k].append(host[1][k])
            if accs:
                hist_acc[k].append(host[2][k])
        if any(not math.isfinite(v) for v in host[0] + host[1]):
            break  # a diverged seed: the others' histories so far are still valid

    with torch.no_grad():  # hand the trained weights back to the models
        for k, m in enumerate(models):
            for nm, p in m.named_parameters():
                p.copy_(params[nm][k])
    return EnsembleResult(list(seeds), hist_train, hist_val, hist_acc, time.perf_counter() - t_start,
                          list(models))


def _clip_per_seed(stacked: Sequence[Tensor], max_norm: float) -> None:
    """clip_grad_norm_ of each seed separately: norms over dims 1.. of every stacked grad."""
    grads = [p.grad for p in stacked if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0)  # (K,)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
