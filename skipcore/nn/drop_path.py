"""Stochastic depth: drop residual branches during training.

Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks with Stochastic Depth", ECCV 2016.

`p` is the *survival* probability of the branch, as in the paper and in the spec's
`stochastic_depth` field (1 = never dropped). Two modes (`StochasticDepth`):

- "block" (the paper): per mini-batch, the whole block is kept with probability p or dropped;
  a dropped block outputs its shortcut and its branch is *not computed* (the training-time
  saving). Survivors are unscaled in training; at inference the branch is multiplied by p
  (the paper's H = S(x) + p F(x)). The draw is one `torch.rand(())` on the CPU generator per
  block and step (no device sync; seeded and checkpointed with the global RNG state).
- "drop_path" (timm `drop_path`, torchvision `stochastic_depth` mode="row"): each sample's branch
  is kept with probability p and kept branches are scaled by 1/p so the expected output is
  unchanged; inference is the plain forward. Every branch is computed (a mask multiplies it),
  so nothing is saved.
"""

from __future__ import annotations

from typing import Callable, Optional

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


MODES = ("block", "drop_path")


class StochasticDepth(nn.Module):
    """One residual block's stochastic depth: `forward(shortcut, branch)` returns shortcut + the
    (kept, dropped or scaled) branch, calling `branch()` only when the branch is needed.

    `shortcut` None (a block without a skip) is allowed only when nothing can be dropped (p = 1).
    """

    def __init__(self, p: float = 1.0, mode: str = "block") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"stochastic depth mode must be one of {MODES}, got {mode!r}")
        self.p, self.mode = _check(p), mode

    def forward(self, shortcut: Optional[Tensor], branch: Callable[[], Tensor]) -> Tensor:
        if self.p < 1.0 and shortcut is None:
            raise ValueError("stochastic depth needs a shortcut (a dropped block outputs it)")
        if self.p == 1.0:
            fx = branch()
        elif self.mode == "drop_path":
            fx = drop_path(branch(), self.p, self.training)
        elif self.training:
            if float(torch.rand(())) >= self.p:  # dropped for this mini-batch: the branch is not run
                return shortcut
            fx = branch()
        else:
            fx = branch() * self.p
        return fx if shortcut is None else shortcut + fx

    def extra_repr(self) -> str:
        return f"p={self.p:g} (survival), mode={self.mode}"
