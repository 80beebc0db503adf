"""Probe registry: probe `name` is the module `skipcore.probes.<name>`, which declares itself.

A probe module has `run(model, data, params) -> dict` and declares, at module level:
- `SUMMARY_KEYS`: scalar keys of its result copied into the run summary as `<name>.<key>`
  (aggregates and /compare read them); with `AT_INIT`, also `<name>.<key>_at_init` from the
  result at initialisation;
- `FIGURE`: the name of its figure function in `skipcore.figures`, or None;
- `AT_INIT`: whether it also wants a baseline at initialisation: the worker runs it on the trained
  model (the result's top level) and on `init_model(...)`, the run's model freshly built with the
  run's seed (the weights training started from), storing that result under `"at_init"`. That
  tells "blocks learned to be near-identity" from "blocks started there";
- `RECORDS` (optional): what the training loop records for it.
Its spec class (`skipcore.spec.probes`) declares what models and data it needs. `declaration(name)`
reads the module and raises when one of the declarations is missing; a test checks every probe.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Optional

from skipcore.spec import PROBE_NAMES

DECLARED = ("run", "SUMMARY_KEYS", "FIGURE", "AT_INIT")  # what every probe module defines


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[..., dict]
    summary_keys: tuple[str, ...]
    figure: Optional[str]
    at_init: bool
    records: Any  # the module's RECORDS (what the training loop records for it), () when it has none


def declaration(name: str) -> Probe:
    """The declarations of probe `name`; ValueError for a name the spec does not know,
    LookupError for a probe module that lacks a declaration."""
    if name not in PROBE_NAMES:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(PROBE_NAMES)}")
    try:
        module = import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise LookupError(f"probe {name!r} has a spec class but no module skipcore/probes/{name}.py") from None
    missing = [attr for attr in DECLARED if not hasattr(module, attr)]
    if missing:
        raise LookupError(f"probe module {module.__name__} declares no {', '.join(missing)} "
                          f"(every probe module defines {', '.join(DECLARED)})")
    return Probe(name, module.run, tuple(module.SUMMARY_KEYS), module.FIGURE, bool(module.AT_INIT),
                 getattr(module, "RECORDS", ()))


def probe_modules() -> list[str]:
    """Names of the modules of this package that define a probe (`run`), for the registry test."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if hasattr(import_module(f"{__name__}.{info.name}"), "run"):
            found.append(info.name)
    return sorted(found)


def probe(name: str) -> Callable[..., dict]:
    return declaration(name).run


def wants_init(name: str) -> bool:
    """Whether probe `name` also runs on the model at initialisation (its module's `AT_INIT`)."""
    return declaration(name).at_init


def summary(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The run-summary entries of one probe result: its `SUMMARY_KEYS` that hold numbers, as
    `<name>.<key>`, and from the result at initialisation as `<name>.<key>_at_init`."""
    keys = declaration(name).summary_keys
    out = {}
    for suffix, res in (("", result), ("_at_init", result.get("at_init") or {})):
        for key in keys:
            value = res.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{name}.{key}{suffix}"] = value
    return out


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
