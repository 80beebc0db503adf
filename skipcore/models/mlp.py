"""plain_mlp: `depth` hidden layers Linear -> activation of uniform `width`, then a Linear output.

The seed-000 baseline (fig 4): a plain ReLU MLP with no skips, depth 1..1000.
"""

from __future__ import annotations

from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import check_size, hidden_names, hidden_stack, init_named, make_activation, mlp_args, run_stack


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
        check_size("PlainMLP", depth, width)
        self.depth, self.width, self.activation = depth, width, activation
        self.hidden = hidden_stack(in_features, width, depth)
        self.act = make_activation(activation)
        self.output = nn.Linear(width, out_features)
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        init_named(self, init)

    def layer_names(self) -> list[str]:
        return hidden_names(self.depth) + ["output"]

    def forward(self, x: Tensor) -> Tensor:
        return self.output(run_stack(self.hidden, self.act, x.flatten(1)))


@family("plain_mlp", stackable=True)
def build(params, info) -> PlainMLP:
    return PlainMLP(**mlp_args(params, info))
