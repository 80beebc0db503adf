"""Shortcut paths of a residual block: identity, 1x1 projection, or none; and the residual sum.

He et al. 2016 ("Deep residual learning", option B): the identity where input and output shapes
agree, a strided 1x1 convolution + BatchNorm where they do not. `kind="none"` removes the skip so
that the same block is the plain network's layer pair (He et al.'s "plain" baselines).
`residual_sum(x, fx, alpha)` is x + alpha * F(x): residual scaling (Szegedy et al. 2017 scale
residuals by 0.1-0.3 before the addition).
"""

from __future__ import annotations

import torch
from torch import nn

KINDS = ("identity", "projection", "none")


def residual_sum(shortcut: torch.Tensor | None, branch: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """shortcut + alpha * branch; a None shortcut (no skip) returns alpha * branch."""
    out = branch if alpha == 1.0 else branch * alpha
    return out if shortcut is None else shortcut + out


class Shortcut(nn.Module):
    """The skip path of one block.

    kind: "identity" (needs in == out channels and stride 1), "projection" (1x1 conv, stride,
    optional BatchNorm; the conv is named `conv`, the norm `bn`), or "none" (forward returns None).
    """

    def __init__(self, *, kind: str, in_channels: int, out_channels: int, stride: int = 1, batch_norm: bool = True):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"shortcut kind must be one of {KINDS}, got {kind!r}")
        if kind == "identity" and (in_channels != out_channels or stride != 1):
            raise ValueError(
                f"identity shortcut needs matching shapes, got {in_channels}->{out_channels} channels, stride {stride}"
            )
        self.kind = kind
        if kind == "projection":
            self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not batch_norm)
            self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()

    @classmethod
    def for_shapes(
        cls, *, shortcut: str, in_channels: int, out_channels: int, stride: int = 1, batch_norm: bool = True
    ) -> "Shortcut":
        """`shortcut` "identity" becomes a projection when the shape changes; "none" stays none."""
        kind = shortcut
        if shortcut == "identity" and (in_channels != out_channels or stride != 1):
            kind = "projection"
        return cls(kind=kind, in_channels=in_channels, out_channels=out_channels, stride=stride, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.kind == "identity":
            return x
        if self.kind == "none":
            return None
        return self.bn(self.conv(x))

    def extra_repr(self) -> str:
        return f"kind={self.kind}"
