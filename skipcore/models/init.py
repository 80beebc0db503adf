"""Weight-init schemes, selectable per spec because the init is an experimental variable.

- ``default``: PyTorch's own ``nn.Linear.reset_parameters()``: weights Kaiming-uniform with
  a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  This is what a network built from ``nn.Linear`` gets when nothing is initialised by hand (what
  seed 000 ran; it is not He).
- ``he``: Kaiming-normal weights, N(0, gain^2 / fan_in) with the activation's gain (sqrt(2) for
  ReLU), zero biases.
- ``identity`` (seed 000's "identity for the weights and zero bias", so that every hidden layer
  receives the same input): every hidden-to-hidden layer (width -> width, square by construction)
  gets the identity matrix; the layers that read the input (in -> width) or write the output
  (width -> out) cannot be the identity and get ``he``; every bias is zero. The rule is applied
  by position, not by shape: a network names its input/output layers (``init_named``'s ``io``),
  so a square input layer (in == width) still gets ``he``. With ReLU the hidden layers then
  realise the identity map on what they receive (non-negative activations), so every hidden
  layer sees the first layer's output ReLU(W_in x), whose units are all live: each hidden unit
  is active wherever its input weight has the sign of x, and can receive a gradient. (An
  eye-padded 1 -> width input layer would feed unit 0 only and leave the other units dead for
  ever.) With another activation the weights are still the identity but the layer computes
  act(h), not h. In a residual block (resnet_mlp, highway_mlp) each *linear* layer is the
  identity, so the block computes x + act(x) (resp. the highway mix of x and act(x)), not x: use
  ``zero_residual`` for blocks that start as the identity. dense_skip_mlp states its own rule
  for the skip layers (they start at zero, so the main path alone is the identity chain).
- ``zero_residual``: ``he`` everywhere, then each residual block's last layer is zeroed by the
  network (the block owns ``zero_init_last()``), so every block starts as the identity.

`draw_` is the same rule written as "unit draws times a scale": the draws depend only on the
tensor's shape and the generator, the scale only on the fan-in, so a network can initialise a
layer for a fan-in other than its own (dense_skip_mlp: the total fan-in of a layer with skips).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

SCHEMES = ("he", "identity", "default", "zero_residual")
_GAIN_NAMES = {"relu": "relu", "gelu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def gain(activation: str) -> float:
    return nn.init.calculate_gain(_GAIN_NAMES.get(activation, "relu"))


def _check(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; known: {', '.join(SCHEMES)}")


def init_layer(layer: nn.Module, scheme: str, *, activation: str = "relu") -> None:
    """Initialise one Linear/Conv layer in place with `scheme` (see module docstring).

    `identity` here means the identity matrix and needs a square 2-D weight; which layers of a
    network get it (and which get `he` instead) is `init_named`'s rule.
    """
    _check(scheme)
    if scheme == "default":
        layer.reset_parameters()
        return
    if scheme == "identity":
        w = layer.weight
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"identity init needs a square 2-D weight, got shape {tuple(w.shape)}")
        nn.init.eye_(w)
    else:  # he, zero_residual
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity=_GAIN_NAMES.get(activation, "relu"))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


@torch.no_grad()
def draw_(t: Tensor, scheme: str, *, fan_in: int, activation: str = "relu", bias: bool = False,
          generator: Optional[torch.Generator] = None) -> Tensor:
    """Fill `t` with `scheme`'s distribution for `fan_in`, as unit draws times a scale.

    default: U(-1, 1) * 1/sqrt(fan_in) (weights and biases alike, as nn.Linear);
    he / zero_residual: N(0, 1) * gain/sqrt(fan_in) for weights, zeros for biases.
    Same `generator` state and shape -> the same unit draws whatever `fan_in` is.
    """
    _check(scheme)
    if scheme == "identity":
        raise ValueError("draw_ has no identity scheme (the identity is not drawn)")
    if scheme == "default":
        t.uniform_(-1.0, 1.0, generator=generator).mul_(1.0 / math.sqrt(fan_in))
    elif bias:
        t.zero_()
    else:
        t.normal_(0.0, 1.0, generator=generator).mul_(gain(activation) / math.sqrt(fan_in))
    return t
