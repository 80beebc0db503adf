"""Per-layer statistics the loop records, for any module with `layer_names()`.

`layer_names()` lists weight-bearing submodules (Linear, Conv, ...) by their module name; a
model without it falls back to every Linear/Conv module in registration order. Statistics are
returned as one tensor (one entry per layer) so the loop reads them with a single host sync.
Mean |W| is the mean over all entries of the weight (all kernel entries for a convolution);
the gradient norm is the Frobenius norm of the weight's gradient (0 where there is none).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from skipcore.models.common import weight_layer_names


def layer_names(model: nn.Module) -> list[str]:
    fn = getattr(model, "layer_names", None)
    return list(fn()) if callable(fn) else weight_layer_names(model)


def layer_weights(model: nn.Module) -> list[tuple[str, Tensor]]:
    modules = dict(model.named_modules())
    return [(name, modules[name].weight) for name in layer_names(model)]


def weight_mean_abs(model: nn.Module) -> Tensor:
    ws = layer_weights(model)
    if not ws:
        return torch.zeros(0)
    with torch.no_grad():
        return torch.stack([w.detach().abs().mean().float() for _, w in ws])


def grad_norms(model: nn.Module) -> Tensor:
    out, ws = [], layer_weights(model)
    if not ws:
        return torch.zeros(0)
    for _, w in ws:
        out.append(w.grad.detach().norm() if w.grad is not None else torch.zeros((), device=w.device))
    return torch.stack(out).float()


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """eval() and no_grad() for the block; the model's training flags are restored after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, mode in modes.items():
            m.training = mode
