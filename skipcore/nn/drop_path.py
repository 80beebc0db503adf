"""Stochastic depth ("drop path"): drop a residual branch per sample during training.

Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks with Stochastic Depth", ECCV 2016.

`p` is the *survival* probability of the branch, as in the paper and in the spec's
`stochastic_depth` field (1 = never dropped). In training each sample's branch is kept with
probability `p` and, like timm's `drop_path`, the kept branches are scaled by 1/p so that the
expected output equals the input; at inference the function is the identity (no rescaling is
needed, because training already divided by p). Same idea as torchvision `ops/stochastic_depth.py`
(mode="row") with the survival rather than the drop probability as the argument.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


def _check(p: float) -> float:
    if not 0.0 < p <= 1.0:
        raise ValueError(f"drop_path survival probability p must be in (0, 1], got {p!r}")
    return float(p)


def drop_path(x: Tensor, p: float, training: bool, generator: Optional[torch.Generator] = None) -> Tensor:
    """Keep each sample of the branch output `x` with probability `p`, scaled by 1/p (training only).

    x: (N, ...) the residual branch output. At inference (`training=False`) or with p == 1 it is
    returned unchanged. `generator`, if given, must live on x's device.
    """
    p = _check(p)
    if not training or p == 1.0:
        return x
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    keep = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype) < p
    return x * keep.to(x.dtype) / p


class DropPath(nn.Module):
    """Module form of `drop_path`; passes `self.training`. `p` is the survival probability."""

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        self.p = _check(p)

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p:g} (survival)"
