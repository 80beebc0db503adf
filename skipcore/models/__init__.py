"""Model registry: family -> module with `build(params, info) -> nn.Module`.

One line per entry; modules are imported on first use so that importing the registry stays cheap.
A test checks that the keys equal the spec's family names.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

BUILDERS: dict[str, str] = {
    "plain_mlp": "skipcore.models.mlp",
    "telescope_mlp": "skipcore.models.telescope",
    "resnet_mlp": "skipcore.models.resnet_mlp",
    "dense_skip_mlp": "skipcore.models.dense_skip",
    "skip_layer_mlp": "skipcore.models.skip_layer",
    "highway_mlp": "skipcore.models.highway",
    "vanilla_cnn": "skipcore.models.cnn",
    "skip_cnn": "skipcore.models.cnn",
    "widened_cnn": "skipcore.models.cnn",
    "resnet_cnn": "skipcore.models.resnet",
    "densenet_cnn": "skipcore.models.densenet",
    "unet": "skipcore.models.unet",
}


def builder(family: str) -> Callable[..., Any]:
    if family not in BUILDERS:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(sorted(BUILDERS))}")
    return import_module(BUILDERS[family]).build


def build_model(params: Any, info: Any) -> Any:
    """Build the torch module for `params` (a spec model class) and data `info` (DataInfo)."""
    return builder(params.family)(params, info)
