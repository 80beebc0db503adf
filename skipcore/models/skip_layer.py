"""skip_layer_mlp (seed 002): hidden layers plus a direct input->output linear ("skip-layer") term.

    y = W_out h_L + b_out + W_skip x,   h_l = act(W_l h_{l-1} + b_l),  h_0 = x   (l = 1..depth)

`width` 0 drops the hidden path: y = W_skip x + b, exactly a linear model (Bishop 5.1: "zero
hidden nodes + skip-layer connections are linear models"). `skip_layer=False` drops W_skip (a
plain MLP; with width 0 too, the model is the constant b). The skip term has no bias of its own
when the hidden path exists (its output layer carries the bias). `linear_term(x)` and
`hidden_term(x)` give the two contributions (l1_linearity compares them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import UniformMLP, hidden_names, hidden_stack, init_named, mlp_args, run_stack
from skipcore.models.stacking import UNSTACKED, StackedLinears, stacked_forward


class SkipLayerMLP(UniformMLP):
    """See the module docstring; keyword arguments as `UniformMLP` (activation tanh, init default,
    width >= 0) and `skip_layer` (default True)."""

    ACTIVATION, INIT, MIN_WIDTH = "tanh", "default", 0

    def _layers(self, in_features: int, out_features: int, skip_layer: bool = True) -> None:
        width = self.width
        self.depth = self.depth if width > 0 else 0
        self.out_features = out_features
        self.hidden = hidden_stack(in_features, width, self.depth)
        self.output = nn.Linear(width, out_features) if width > 0 else None
        self.direct = nn.Linear(in_features, out_features, bias=width == 0) if skip_layer else None
        # Only when there is neither a hidden path nor a skip: the model is a learned constant.
        self.bias = nn.Parameter(torch.zeros(out_features)) if width == 0 and not skip_layer else None

    def _init_weights(self, init: str) -> None:
        # identity: hidden.0, output and direct read the input or write the output (he)
        init_named(self, init, io=("hidden.0", "output", "direct"))

    def layer_names(self) -> list[str]:
        names = hidden_names(self.depth)
        if self.output is not None:
            names.append("output")
        if self.direct is not None:
            names.append("direct")
        return names

    def hidden_term(self, x: Tensor) -> Tensor:
        """W_out h_L + b_out (zeros, or the constant, without a hidden path)."""
        return _hidden_term(self, UNSTACKED, x.flatten(1))

    def linear_term(self, x: Tensor) -> Tensor:
        """W_skip x (+ its bias when width is 0); zeros without the skip layer."""
        return _linear_term(self, UNSTACKED, x.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.hidden_term(x) + self.linear_term(x)


@family("skip_layer_mlp", stackable=True)
def build(params, info) -> SkipLayerMLP:
    return SkipLayerMLP(**mlp_args(params, info, "skip_layer"))


# -- the forward, for one model or K stacked seeds (skipcore.models.stacking) ------------------
def _zeros(m: SkipLayerMLP, h: Tensor) -> Tensor:
    return torch.zeros(*h.shape[:-1], m.out_features, device=h.device, dtype=h.dtype)


def _hidden_term(m: SkipLayerMLP, lin: StackedLinears, h: Tensor) -> Tensor:
    if m.output is None:
        base = _zeros(m, h)
        return base + lin.param(m, "bias") if m.bias is not None else base
    return lin(m.output)(run_stack(map(lin, m.hidden), m.act, h))


def _linear_term(m: SkipLayerMLP, lin: StackedLinears, h: Tensor) -> Tensor:
    return _zeros(m, h) if m.direct is None else lin(m.direct)(h)


@stacked_forward(SkipLayerMLP)
def stacked(m: SkipLayerMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    h = x.flatten(2)
    return _hidden_term(m, lin, h) + _linear_term(m, lin, h)
