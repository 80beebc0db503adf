"""Factories for specs and service settings used across the tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from persistence.settings import Settings

TINY_SPEC: dict[str, Any] = {
    "name": "tiny-telescope",
    "model": {"family": "telescope_mlp", "depth": 3, "width": 8},
    "data": {"name": "sine", "n_train": 64, "n_val": 32},
    "train": {"optimizer": "adam", "lr": 0.01, "epochs": 3, "batch_size": 32, "checkpoint_every": 1},
    "probes": [{"name": "weight_magnitude", "every": 1}, {"name": "skip_ablation", "grid_points": 16}],
    "seeds": [0],
}


def make_spec(**overrides: Any) -> dict[str, Any]:
    """TINY_SPEC with top-level sections merged from `overrides` (dicts merge, others replace)."""
    spec = copy.deepcopy(TINY_SPEC)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def long_sine_spec(name: str, *, n_train: int, epochs: int, checkpoint_every: int) -> dict[str, Any]:
    """A run that trains long enough to be interrupted mid-way: an 8-layer telescope MLP on sine."""
    return make_spec(
        name=name,
        model={"family": "telescope_mlp", "depth": 8, "width": 32},
        data={"name": "sine", "n_train": n_train, "n_val": n_train // 4},
        train={"optimizer": "adam", "lr": 0.001, "epochs": epochs, "batch_size": 32, "checkpoint_every": checkpoint_every},
        probes=[],
    )


def make_settings(home: Path, database_url: str | None = None, **extra: Any) -> Settings:
    return Settings(home=home, database_url=database_url, **extra)


def queued_messages(settings: Settings) -> list[Path]:
    """Messages waiting in the embedded (filesystem) broker."""
    folder = settings.broker_dir / "out"
    return sorted(folder.glob("*")) if folder.exists() else []
