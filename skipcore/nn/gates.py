"""Highway transform gate T(x) = sigmoid(W_T x + b_T) and the highway mix.

Srivastava, Greff & Schmidhuber, "Highway Networks" (2015) / "Training Very Deep Networks"
(NeurIPS 2015): y = T(x) * H(x) + (1 - T(x)) * x. A negative gate bias b_T (the paper uses -1 to
-3) starts each layer close to the identity ("carry" behaviour); b_T -> -inf makes it exactly
the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def highway(x: Tensor, h: Tensor, t: Tensor) -> Tensor:
    """The highway mix written as shortcut + branch: x + t * (h - x) == t*h + (1-t)*x."""
    if x.shape != h.shape or t.shape != x.shape:
        raise ValueError(f"highway needs equal shapes, got x {tuple(x.shape)}, h {tuple(h.shape)}, t {tuple(t.shape)}")
    return x + t * (h - x)


def transform_gate(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """T(x) = sigmoid(x W^T + b)."""
    return torch.sigmoid(nn.functional.linear(x, weight, bias))


class TransformGate(nn.Module):
    """T(x) = sigmoid(W_T x + b_T) of a `width`-wide highway layer; `bias` is the initial b_T."""

    def __init__(self, width: int, bias: float = -2.0) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"TransformGate width must be >= 1, got {width!r}")
        if bias != bias:  # NaN
            raise ValueError(f"TransformGate bias must be a number, got {bias!r}")
        self.width = width
        self.initial_bias = float(bias)
        self.linear = nn.Linear(width, width)
        self.reset_bias()

    def reset_bias(self) -> None:
        """Set b_T to the initial gate bias (the network calls this after its weight init)."""
        with torch.no_grad():
            self.linear.bias.fill_(self.initial_bias)

    def forward(self, x: Tensor) -> Tensor:
        return transform_gate(x, self.linear.weight, self.linear.bias)

    def extra_repr(self) -> str:
        return f"width={self.width}, bias={self.initial_bias:g}"
