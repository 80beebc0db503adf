"""Probe registry: name -> module with `run(model, data, params) -> dict`.

One line per entry, imported on first use. A test checks that the keys equal the spec's probe names.

A probe module that sets `AT_INIT = True` also wants a baseline at initialisation: the worker runs
it on the trained model (the result's top level, as before) and on `init_model(...)`, the run's
model freshly built with the run's seed (the weights training started from), storing that result
under `"at_init"`. That tells "blocks learned to be near-identity" from "blocks started there".
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


def _module(name: str) -> Any:
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    return import_module(PROBES[name])


def probe(name: str) -> Callable[..., dict]:
    return _module(name).run


def wants_init(name: str) -> bool:
    """Whether probe `name` also runs on the model at initialisation (its module's `AT_INIT`)."""
    return bool(getattr(_module(name), "AT_INIT", False))


def run_probe(params: Any, model: Any, data: Any) -> dict:
    """Run the probe named by `params.name` (a spec probe class) on a trained model."""
    return probe(params.name)(model, data, params)


def init_model(model_params: Any, info: Any, seed: int, device: Any = "cpu") -> Any:
    """The run's model at initialisation: `seed_everything(seed)` then `build_model`, the order the
    worker (and `build_models` for ensembles) uses before training, so the weights are the ones
    training started from. The global RNG state (torch, CUDA, numpy, python) is restored after,
    so building it changes nothing else; the model is returned in eval mode."""
    from skipcore.models import build_model
    from skipcore.train import checkpoint as ckpt
    from skipcore.train.loop import seed_everything

    saved = ckpt.rng_state()
    try:
        seed_everything(seed)
        model = build_model(model_params, info)
    finally:
        ckpt.set_rng_state(saved)
    return model.to(device).eval()


def run_with_init(params: Any, model: Any, data: Any, init: Callable[[], Any]) -> dict:
    """`run_probe`, plus `"at_init"` (the same probe on `init()`, built only if this probe wants it)."""
    out = run_probe(params, model, data)
    if wants_init(params.name):
        out["at_init"] = run_probe(params, init(), data)
    return out
