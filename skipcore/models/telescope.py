"""telescope_mlp (seed 000): every hidden layer's output is summed, by identity, into the last.

Reading of the seed's `forward`: `layers_out` collects the output of *every* hidden layer,
including the last one, so with all skips on

    h_1 = act(W_1 x + b_1),   h_i = act(W_i h_{i-1} + b_i)   (i = 2..L, uniform width)
    z   = h_L + sum_{i=1..L} m_i h_i        (m_i = skip_mask[i-1]; the last layer also "receives
    y   = W_out z + b_out                    its own output", m_L h_L)

With every m_i off, z = h_L and the network is exactly the plain chain (`plain_mlp` with the same
weights). The mask is for inference-time ablation (seed fig 1): the seed trains with all skips
on, and so does the loop (it never touches this mask), so set it back with `set_skips(True)`
after probing. Masking multiplies by 0/1 (no host sync); a disabled skip therefore contributes an
exact zero as long as its activations are finite.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from skipcore.models import family
from skipcore.models.common import UniformMLP, bool_mask, hidden_names, hidden_stack, mlp_args
from skipcore.models.stacking import UNSTACKED, StackedLinears, stacked_forward


class TelescopeMLP(UniformMLP):
    """See the module docstring; keyword arguments as `UniformMLP` (activation relu, init he)."""

    def _layers(self, in_features: int, out_features: int) -> None:
        self.hidden = hidden_stack(in_features, self.width, self.depth)
        self.output = nn.Linear(self.width, out_features)
        self.register_buffer("skip_mask", torch.ones(self.depth, dtype=torch.bool))

    def layer_names(self) -> list[str]:
        return hidden_names(self.depth) + ["output"]

    def set_skips(self, mask: bool | Sequence[bool] | Tensor) -> None:
        """Enable/disable the skip of each hidden layer (True/False for all, or `depth` bools)."""
        self.skip_mask.copy_(bool_mask(mask, self.depth, "skip_mask"))

    def hidden_outputs(self, x: Tensor) -> list[Tensor]:
        """h_1..h_L, the output of every hidden layer."""
        return _hidden_outputs(self, UNSTACKED, x.flatten(1))

    def features(self, x: Tensor) -> Tensor:
        """z = h_L + sum_i m_i h_i, the input of the output layer."""
        return _features(self, UNSTACKED, x.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.features(x))


@family("telescope_mlp", stackable=True)
def build(params, info) -> TelescopeMLP:
    return TelescopeMLP(**mlp_args(params, info))


# -- the forward, for one model or K stacked seeds (skipcore.models.stacking) ------------------
def _hidden_outputs(m: TelescopeMLP, lin: StackedLinears, h: Tensor) -> list[Tensor]:
    outs = []
    for layer in m.hidden:
        h = m.act(lin(layer)(h))
        outs.append(h)
    return outs


def _features(m: TelescopeMLP, lin: StackedLinears, h: Tensor) -> Tensor:
    outs = _hidden_outputs(m, lin, h)
    mask = m.skip_mask.to(outs[-1].dtype)
    z = outs[-1]
    for i, hi in enumerate(outs):
        z = z + mask[i] * hi
    return z


@stacked_forward(TelescopeMLP)
def stacked(m: TelescopeMLP, lin: StackedLinears, x: Tensor) -> Tensor:
    return lin(m.output)(_features(m, lin, x.flatten(2)))
