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

from skipcore.models.common import in_features, make_activation
from skipcore.models.init import init_layer


class SkipLayerMLP(nn.Module):
    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        depth: int,
        width: int,
        activation: str = "tanh",
        skip_layer: bool = True,
        init: str = "default",
    ) -> None:
        super().__init__()
        if depth < 1 or width < 0:
            raise ValueError(f"SkipLayerMLP needs depth >= 1 and width >= 0, got depth={depth!r}, width={width!r}")
        self.depth = depth if width > 0 else 0
        self.width, self.activation, self.out_features = width, activation, out_features
        self.hidden = nn.ModuleList(nn.Linear(in_features if i == 0 else width, width) for i in range(self.depth))
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features) if width > 0 else None
        self.direct = nn.Linear(in_features, out_features, bias=width == 0) if skip_layer else None
        # Only when there is neither a hidden path nor a skip: the model is a learned constant.
        self.bias = nn.Parameter(torch.zeros(out_features)) if width == 0 and not skip_layer else None
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        for name in self.layer_names():
            init_layer(self.get_submodule(name), init, activation=self.activation)

    def layer_names(self) -> list[str]:
        names = [f"hidden.{i}" for i in range(self.depth)]
        if self.output is not None:
            names.append("output")
        if self.direct is not None:
            names.append("direct")
        return names

    def hidden_term(self, x: Tensor) -> Tensor:
        """W_out h_L + b_out (zeros, or the constant, without a hidden path)."""
        if self.output is None:
            base = torch.zeros(x.shape[0], self.out_features, device=x.device, dtype=x.dtype)
            return base + self.bias if self.bias is not None else base
        h = x.flatten(1)
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.output(h)

    def linear_term(self, x: Tensor) -> Tensor:
        """W_skip x (+ its bias when width is 0); zeros without the skip layer."""
        if self.direct is None:
            return torch.zeros(x.shape[0], self.out_features, device=x.device, dtype=x.dtype)
        return self.direct(x.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.hidden_term(x) + self.linear_term(x)


def build(params, info) -> SkipLayerMLP:
    return SkipLayerMLP(
        in_features=in_features(info.in_shape),
        out_features=info.n_outputs,
        depth=params.depth,
        width=params.width,
        activation=params.activation,
        skip_layer=params.skip_layer,
        init=params.init,
    )
