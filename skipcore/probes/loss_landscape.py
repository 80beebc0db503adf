"""1-D / 2-D loss slices along filter-normalised random directions (Li et al. 2018, "Visualizing
the loss landscape of neural nets").

theta(a, b) = theta* + a d1 + b d2, with d1, d2 from `directions.random_direction` (keyed by
parameter name, filter-normalised, zero for 1-D parameters) drawn in that order from
`torch.Generator().manual_seed(params.seed)`. The model is in eval mode, so BatchNorm uses its
running statistics as trained (they are buffers, never moved or updated). The loss (and accuracy
for classification/segmentation) is the TRAINING loss, as Li et al. plot it: it is evaluated on a
fixed subset of `n_samples` training examples (without augmentation), the first `n_samples`
indices of `torch.randperm(len(x_train))` from a second generator seeded with `params.seed`
(`training_subset`), at `points` values of a (1-D) or a points x points grid of (a, b) (2-D),
evenly over [-span, span].
Points not computed stay NaN. The weights are restored bit for bit afterwards.

Roughness (how smooth the slice is; 2-D statistics over interior grid points, 1-D over interior
points of the line):
- `laplacian`: mean |discrete Laplacian| of log(loss), divided by the range (max - min) of
  log(loss) over the slice: 0 for a plane, larger for bumpy surfaces; scale-free in the loss.
- `nonconvex_fraction`: the fraction of interior points where the loss (not its log) curves down:
  the second difference < 0 in 1-D; in 2-D the discrete 2x2 Hessian (second differences along a,
  b and the mixed difference) has a negative eigenvalue (Li et al. map min/max Hessian
  eigenvalues; this is the cheap grid version).
- `border_ratio`: mean loss on the border of the slice (both ends in 1-D) / the centre loss: how
  much the loss rises a `span` away (sharp vs wide basin).
Result: {"dims", "seed", "span", "points", "n_samples", "evaluated_on", "batch_norm", "alphas",
"betas" (2-D), "loss", "acc" (classification/segmentation), "center_loss", "center_acc",
"roughness"}.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from skipcore.probes.block_lesion import evaluate
from skipcore.probes.directions import random_direction

SUMMARY_KEYS = ()  # copied into the run summary as loss_landscape.<key> (see skipcore.probes)
FIGURE = "loss_landscape"  # its figure in skipcore.figures
AT_INIT = False


# ----------------------------------------------------------------------------- roughness
def _second_diffs(z: torch.Tensor, dim: int) -> torch.Tensor:
    return z.narrow(dim, 0, z.shape[dim] - 2) - 2 * z.narrow(dim, 1, z.shape[dim] - 2) + z.narrow(dim, 2, z.shape[dim] - 2)


def roughness(loss: torch.Tensor) -> dict[str, float]:
    """Smoothness statistics of a 1-D (P,) or 2-D (P, P) loss slice; see the module docstring."""
    z = loss.double()
    if not torch.isfinite(z).all() or (z <= 0).any():
        return {"laplacian": math.nan, "nonconvex_fraction": math.nan, "border_ratio": math.nan}
    logz = z.log()
    span = (logz.max() - logz.min()).item()
    center = z[(z.shape[0] // 2,) * z.dim()].item()
    if z.dim() == 1:
        lap = _second_diffs(logz, 0)
        curv = _second_diffs(z, 0)
        nonconvex = (curv < 0).double().mean().item()
        border = torch.stack([z[0], z[-1]]).mean().item()
    else:
        lap = _second_diffs(logz, 0)[:, 1:-1] + _second_diffs(logz, 1)[1:-1, :]
        daa = _second_diffs(z, 0)[:, 1:-1]
        dbb = _second_diffs(z, 1)[1:-1, :]
        dab = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / 4
        lam_min = (daa + dbb) / 2 - torch.sqrt(((daa - dbb) / 2) ** 2 + dab**2)
        nonconvex = (lam_min < 0).double().mean().item()
        edge = torch.ones_like(z, dtype=torch.bool)
        edge[1:-1, 1:-1] = False
        border = z[edge].mean().item()
    return {
        "laplacian": lap.abs().mean().item() / span if span > 0 else 0.0,
        "nonconvex_fraction": nonconvex,
        "border_ratio": border / center,
    }


# ----------------------------------------------------------------------------- probe
def training_subset(data: Any, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed subset of min(n, N) training examples the landscape is evaluated on (docstring)."""
    perm = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:n]
    idx = perm.sort().values.to(data.x_train.device)
    return data.x_train[idx], data.y_train[idx]


@torch.no_grad()
def run(model: nn.Module, data: Any, params: Any) -> dict:
    task = data.info.task
    x, y = training_subset(data, params.n_samples, params.seed)
    g = torch.Generator().manual_seed(params.seed)
    dirs = [random_direction(model, g) for _ in range(params.dims)]
    named = dict(model.named_parameters())
    theta = {n: p.detach().clone() for n, p in named.items()}
    coords = torch.linspace(-params.span, params.span, params.points, dtype=torch.float64).tolist()
    shape = (params.points,) * params.dims
    loss = torch.full(shape, math.nan, dtype=torch.float64)
    acc = torch.full(shape, math.nan, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        center_loss, center_acc = evaluate(model, x, y, task)
        for idx in torch.cartesian_prod(*[torch.arange(params.points)] * params.dims).view(-1, params.dims).tolist():
            step = [coords[i] for i in idx]
            for n, p in named.items():
                p.copy_(theta[n])
                for a, d in zip(step, dirs):
                    p.add_(d[n], alpha=a)
            lo, ac = evaluate(model, x, y, task)
            loss[tuple(idx)] = lo
            if ac is not None:
                acc[tuple(idx)] = ac
    finally:
        for n, p in named.items():
            p.copy_(theta[n])
        model.train(was_training)

    result: dict[str, Any] = {
        "dims": params.dims,
        "seed": params.seed,
        "span": params.span,
        "points": params.points,
        "n_samples": len(x),
        "evaluated_on": (f"training subset of {len(x)} of {len(data.x_train)} points (no augmentation), fixed by "
                         f"torch.randperm with a generator seeded with the probe seed {params.seed}"),
        "batch_norm": "eval",
        "alphas": coords,
        "loss": loss.tolist(),
        "center_loss": center_loss,
        "roughness": roughness(loss),
    }
    if params.dims == 2:
        result["betas"] = coords
    if center_acc is not None:
        result.update(acc=acc.tolist(), center_acc=center_acc)
    return result
