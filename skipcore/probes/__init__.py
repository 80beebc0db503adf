"""Probe registry: name -> module with `run(model, data, params) -> dict`.

One line per entry, imported on first use. A test checks that the keys equal the spec's probe names.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

PROBES: dict[str, str] = {
    "weight_magnitude": "skipcore.probes.weight_magnitude",
    "skip_ablation": "skipcore.probes.skip_ablation",
    "depth_error": "skipcore.probes.depth_error",
    "gradient_flow": "skipcore.probes.gradient_flow",
    "identity_ratio": "skipcore.probes.identity_ratio",
    "block_lesion": "skipcore.probes.block_lesion",
    "loss_landscape": "skipcore.probes.loss_landscape",
    "l1_linearity": "skipcore.probes.l1_linearity",
}


def probe(name: str) -> Callable[..., dict]:
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    return import_module(PROBES[name]).run


def run_probe(params: Any, model: Any, data: Any) -> dict:
    """Run the probe named by `params.name` (a spec probe class) on a trained model."""
    return probe(params.name)(model, data, params)
