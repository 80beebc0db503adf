"""Helpers shared by the MLP families: activation lookup, input size, layer statistics names."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def in_features(in_shape: Sequence[int]) -> int:
    """MLPs flatten their input: (features,) or (C, H, W) -> product of dims."""
    return int(math.prod(in_shape))


def bool_mask(mask: bool | Sequence[bool] | Tensor, n: int, what: str) -> Tensor:
    """A bool tensor of length n from True/False (all) or a sequence of n bools."""
    if isinstance(mask, bool):
        return torch.full((n,), mask, dtype=torch.bool)
    t = torch.as_tensor(mask, dtype=torch.bool).flatten().cpu()
    if t.numel() != n:
        raise ValueError(f"{what} needs {n} entries, got {t.numel()}")
    return t


def weight_layer_names(model: nn.Module) -> list[str]:
    """Fallback `layer_names()`: every Linear/Conv module, in registration order."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
    return [name for name, m in model.named_modules() if isinstance(m, kinds)]


def select(mask: Tensor, on: Tensor, off: Tensor) -> Tensor:
    """`on` where the 0-d bool `mask` is set, else `off`; no host sync (torch.where)."""
    return torch.where(mask, on, off)
