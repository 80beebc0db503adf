"""plain_mlp: `depth` hidden layers Linear -> activation of uniform `width`, then a Linear output.

The seed-000 baseline (fig 4): a plain ReLU MLP with no skips, depth 1..1000.
"""

from __future__ import annotations

from torch import Tensor, nn

from skipcore.models.common import in_features, make_activation
from skipcore.models.init import init_layer


class PlainMLP(nn.Module):
    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        depth: int,
        width: int,
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"PlainMLP needs depth >= 1 and width >= 1, got depth={depth!r}, width={width!r}")
        self.depth, self.width, self.activation = depth, width, activation
        self.hidden = nn.ModuleList(nn.Linear(in_features if i == 0 else width, width) for i in range(depth))
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features)
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        for layer in [*self.hidden, self.output]:
            init_layer(layer, init, activation=self.activation)

    def layer_names(self) -> list[str]:
        return [f"hidden.{i}" for i in range(self.depth)] + ["output"]

    def forward(self, x: Tensor) -> Tensor:
        h = x.flatten(1)
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.output(h)


def build(params, info) -> PlainMLP:
    return PlainMLP(
        in_features=in_features(info.in_shape),
        out_features=info.n_outputs,
        depth=params.depth,
        width=params.width,
        activation=params.activation,
        init=params.init,
    )
