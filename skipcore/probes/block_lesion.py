"""Lesion study of residual blocks (Veit, Wilber & Belongie 2016, "Residual networks behave like
ensembles of relatively shallow networks").

On `n_samples` validation examples, with the model in eval mode: the base loss (and accuracy for
classification / pixel accuracy for segmentation; regression reports loss only) with every block
present; then each block removed alone (`model.set_blocks`, a removed block returns its shortcut
path, see the model's docstring) -> loss/acc and the deltas to base per block, with the blocks'
`downsample` flags and separate mean deltas for downsampling and shape-preserving blocks (Veit et
al. found that only the downsampling blocks hurt much); then, for every k in `random_k` (k <= the
number of blocks), `n_random` seeded draws of k blocks removed together -> mean/std of the loss
(and acc). Works on `shortcut: "none"` too, where a removed block passes its input on unchanged.
The block mask is restored afterwards. The worker adds "at_init", the same result on the run's
model at initialisation (`AT_INIT`, see `skipcore.probes`).
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BATCH = 256
SUMMARY_KEYS = ()  # copied into the run summary as block_lesion.<key> (see skipcore.probes)
FIGURE = "block_lesion"  # its figure in skipcore.figures
AT_INIT = True  # the worker also runs it on the model at initialisation (result["at_init"])


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[float, float | None]:
    """Mean loss (CE, pixel CE, or MSE) and accuracy (None for regression) over (x, y), in batches."""
    total, correct, count = 0.0, 0.0, 0
    for i in range(0, len(x), BATCH):
        xb, yb = x[i : i + BATCH], y[i : i + BATCH]
        out = model(xb)
        if task == "regression":
            total += F.mse_loss(out, yb.view_as(out), reduction="sum").item() / max(1, out[0].numel())
        else:
            total += F.cross_entropy(out, yb, reduction="sum").item() / max(1, yb[0].numel())
            hit = (out.argmax(1) == yb).float()
            correct += (hit.flatten(1).mean(1) if hit.dim() > 1 else hit).sum().item()  # pixel acc per image
        count += len(xb)
    loss = total / max(1, count)
    return loss, (None if task == "regression" else correct / max(1, count))


def _mean(v: list[float]) -> float:
    return float(statistics.fmean(v)) if v else float("nan")


def _std(v: list[float]) -> float:
    return float(statistics.pstdev(v)) if len(v) > 1 else 0.0


def run(model: nn.Module, data: Any, params: Any) -> dict:
    task = data.info.task
    x, y = data.x_val[: params.n_samples], data.y_val[: params.n_samples]
    names = [n for n, _ in model.blocks()]
    down = [bool(b.downsample) for _, b in model.blocks()]
    n_blocks = len(names)
    was_training, saved = model.training, model.block_mask.detach().clone()
    model.eval()
    try:
        def score(mask: list[bool]) -> tuple[float, float | None]:
            model.set_blocks(mask)
            return evaluate(model, x, y, task)

        base_loss, base_acc = score([True] * n_blocks)
        single_loss, single_acc = [], []
        for i in range(n_blocks):
            loss, acc = score([j != i for j in range(n_blocks)])
            single_loss.append(loss)
            single_acc.append(acc)
        g = torch.Generator().manual_seed(params.seed)
        random = []
        for k in params.random_k:
            if k > n_blocks:
                continue
            losses, accs = [], []
            for _ in range(params.n_random):
                drop = set(torch.randperm(n_blocks, generator=g)[:k].tolist())
                loss, acc = score([j not in drop for j in range(n_blocks)])
                losses.append(loss)
                accs.append(acc)
            entry = {"k": k, "n": params.n_random, "loss_mean": _mean(losses), "loss_std": _std(losses)}
            if base_acc is not None:
                entry.update(acc_mean=_mean(accs), acc_std=_std(accs))
            random.append(entry)
    finally:
        model.set_blocks(saved)
        model.train(was_training)

    d_loss = [l - base_loss for l in single_loss]
    result: dict[str, Any] = {
        "blocks": names,
        "downsample": down,
        "n_samples": len(x),
        "seed": params.seed,
        "base_loss": base_loss,
        "loss": single_loss,
        "delta_loss": d_loss,
        "summary": {
            "mean_delta_loss_downsample": _mean([d for d, f in zip(d_loss, down) if f]),
            "mean_delta_loss_other": _mean([d for d, f in zip(d_loss, down) if not f]),
        },
        "random": random,
        "skipped_k": [k for k in params.random_k if k > n_blocks],
    }
    if base_acc is not None:
        d_acc = [a - base_acc for a in single_acc]
        result.update(base_acc=base_acc, acc=single_acc, delta_acc=d_acc)
        result["summary"].update(
            mean_delta_acc_downsample=_mean([d for d, f in zip(d_acc, down) if f]),
            mean_delta_acc_other=_mean([d for d, f in zip(d_acc, down) if not f]),
        )
    return result
