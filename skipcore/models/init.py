"""Weight-init schemes, selectable per spec because the init is an experimental variable.

- ``he``: Kaiming-normal weights (fan_in, gain of the activation), zero biases.
- ``identity``: identity weights, zero biases. A non-square layer gets the closest thing, an
  eye-padded matrix (``nn.init.eye_``: ones on the leading diagonal, zeros elsewhere), so a
  layer in->width copies the first min(in, width) inputs.
- ``default``: PyTorch's own ``reset_parameters()`` (Kaiming-uniform a=sqrt(5), uniform bias).
- ``zero_residual``: ``he`` everywhere, then each residual block's last layer is zeroed by the
  network (the block owns ``zero_init_last()``), so every block starts as the identity.
"""

from __future__ import annotations

from torch import nn

SCHEMES = ("he", "identity", "default", "zero_residual")
_GAIN_NAMES = {"relu": "relu", "gelu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def init_layer(layer: nn.Module, scheme: str, *, activation: str = "relu") -> None:
    """Initialise one Linear/Conv layer in place with `scheme` (see module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if scheme == "default":
        layer.reset_parameters()
        return
    if scheme == "identity":
        if layer.weight.ndim != 2:
            raise ValueError(f"identity init needs a 2-D weight, got shape {tuple(layer.weight.shape)}")
        nn.init.eye_(layer.weight)
    else:  # he, zero_residual
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity=_GAIN_NAMES.get(activation, "relu"))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_linears(module: nn.Module, scheme: str, *, activation: str = "relu") -> None:
    """Apply `init_layer` to every nn.Linear inside `module`."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            init_layer(m, scheme, activation=activation)
