"""plain_mlp: `depth` hidden layers Linear -> activation of uniform `width`, then a Linear output.

The seed-000 baseline (fig 4): a plain ReLU MLP with no skips, depth 1..1000.
"""

from __future__ import annotations

from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import UniformMLP, hidden_names, hidden_stack, mlp_args, run_stack
from skipcore.models.stacking import UNSTACKED, StackedLinears, stacked_forward


class PlainMLP(UniformMLP):
    """See the module docstring; keyword arguments as `UniformMLP` (activation relu, init he)."""

    def _layers(self, in_features: int, out_features: int) -> None:
        self.hidden = hidden_stack(in_features, self.width, self.depth)
        self.output = nn.Linear(self.width, out_features)

    def layer_names(self) -> list[str]:
        return hidden_names(self.depth) + ["output"]

    def forward(self, x: Tensor) -> Tensor:
        return _forward(self, UNSTACKED, x.flatten(1))


@family("plain_mlp", stackable=True)
def build(params, info) -> PlainMLP:
    return PlainMLP(**mlp_args(params, info))


# -- the forward, for one model or K stacked seeds (skipcore.models.stacking) ------------------
def _forward(m: PlainMLP, lin: StackedLinears, h: Tensor) -> Tensor:
    return lin(m.output)(run_stack(map(lin, m.hidden), m.act, h))


@stacked_forward(PlainMLP)
def stacked(m: PlainMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    return _forward(m, lin, x.flatten(2))
