"""Filter-normalised random directions in parameter space (Li et al. 2018, `net_plotter.py`).

A direction is a dict keyed by parameter name (`model.named_parameters()`), drawn from a seeded
`torch.Generator` on the CPU, so the same seed gives the same direction on every device. Each
weight with >= 2 dims gets d ~ N(0, 1) rescaled filter by filter: for every output filter
(conv: d[i] is the i-th filter; linear: the i-th output neuron's row) d[i] <- d[i] / ||d[i]|| *
||theta[i]||. Parameters with <= 1 dim (biases, BN gamma/beta) get the zero direction, Li et al.'s
`ignore='biasbn'`. Buffers (BN running statistics) are not parameters and are never moved.
"""

from __future__ import annotations

import torch
from torch import nn


def filter_normalize(direction: torch.Tensor, weight: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Rescale every output filter of `direction` to the norm of the same filter of `weight`."""
    if direction.shape != weight.shape:
        raise ValueError(f"direction shape {tuple(direction.shape)} != weight shape {tuple(weight.shape)}")
    if weight.dim() <= 1:
        return torch.zeros_like(weight)
    d = direction.flatten(1)
    w = weight.detach().flatten(1)
    scale = w.norm(dim=1, keepdim=True) / (d.norm(dim=1, keepdim=True) + eps)
    return (d * scale).view_as(weight)


@torch.no_grad()
def random_direction(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One filter-normalised Gaussian direction, keyed by parameter name, on the parameters' devices."""
    out: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            out[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=torch.float32, device="cpu")
        out[name] = filter_normalize(d.to(device=p.device, dtype=p.dtype), p)
    return out
