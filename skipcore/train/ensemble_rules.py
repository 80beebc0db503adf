"""Which runs can train as one seed ensemble (`skipcore.train.ensemble`), and building them.

`spec_reason(spec)` judges from the spec alone (the worker asks before claiming sibling runs);
`unsupported_reason(models, datasets, train, probes)` checks the built models and data.
`build_models` makes each seed's data and model in the worker's order (data, seed, model).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from torch import nn

from skipcore.data.base import Dataset
from skipcore.train.loop import seed_everything
from skipcore.train.stacked import reason as stacked_reason


def unsupported_reason(models: Sequence[nn.Module], datasets: Sequence[Dataset], train: Any,
                       probes: Sequence[Any] = ()) -> Optional[str]:
    """Why these runs cannot be trained as one ensemble (None: they can)."""
    if len(models) != len(datasets) or not models:
        return "needs one dataset per model"
    if getattr(train, "skip_star", None) is not None:
        return "skip*: each seed switches phase at its own epoch"
    shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        return "parameter shapes differ between models"
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in models[0].modules()):
        return "batch norm (per-seed running statistics)"
    for d in datasets:
        if d.augment is not None:
            return "batch augmentation"
        if d.info.task == "segmentation":
            return "segmentation"
    if any(d.x_train.shape != datasets[0].x_train.shape or d.x_val.shape != datasets[0].x_val.shape
           for d in datasets):
        return "datasets differ in size"
    return stacked_reason(models)


def stacked_families() -> tuple[str, ...]:
    """The families whose declaration (`skipcore.models.family(..., stackable=True)`) says the
    seed-ensemble path can stack them, sorted."""
    from skipcore.models import registered

    return tuple(sorted(name for name, fam in registered().items() if fam.stackable))


def __getattr__(name: str) -> Any:
    if name == "STACKED_FAMILIES":  # read from the declarations when first asked for
        return stacked_families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def spec_reason(spec: Any) -> Optional[str]:
    """Why runs of this (ExperimentSpec) spec cannot be trained as a seed ensemble, judged from
    the spec alone (None: try; `unsupported_reason` checks the built models and data again)."""
    from skipcore.models import declaration

    family = spec.model.family
    if not declaration(family).stackable:
        return f"family {family} has no stacked forward (covered: {', '.join(stacked_families())})"
    if spec.train.skip_star is not None:
        return "skip*: each seed switches phase at its own epoch"
    if getattr(spec.model, "stochastic_depth", 1.0) < 1.0:
        return "stochastic depth draws from other RNG streams"
    return None


def build_models(model_params: Any, data_params: Any, seeds: Sequence[int], *, root: Any = ".",
                 device: Any = "cpu") -> tuple[list[nn.Module], list[Dataset]]:
    """Data and model of each seed, in the worker's order (load data, seed everything, build)."""
    from skipcore.data import load_dataset
    from skipcore.models import build_model

    models, datasets = [], []
    for seed in seeds:
        data = load_dataset(data_params, seed=seed, root=root, device=device)
        seed_everything(seed)
        models.append(build_model(model_params, data.info).to(device))
        datasets.append(data)
    return models, datasets
