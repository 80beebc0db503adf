"""The experiment spec: what a researcher POSTs. Imports pydantic only, never torch.

`ExperimentSpec.expand()` turns `seeds` x `sweep` into one `RunPlan` per run, each carrying the
fully resolved spec of that run (the sweep point applied, re-validated).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skipcore.spec.data import DATASET_NAMES, DataParams
from skipcore.spec.models import FAMILIES, IMAGE_FAMILIES, MLP_FAMILIES, ModelParams
from skipcore.spec.probes import PROBE_NAMES, ProbeParams
from skipcore.spec.train import TrainParams

MAX_RUNS = 1000
MAX_SEEDS = 100
MAX_SWEEP_VALUES = 200

SweepValue = Union[bool, int, float, str, None]

# Which data a family can train on, and which families a probe can inspect. Kept here (not in the
# torch code) so that a wrong combination is a 422 at POST time, not a failed run an hour later.
IMAGE_CLASSIFICATION_DATA = frozenset({"cifar10", "digits", "emnist_letters", "fake_images"})
SEGMENTATION_DATA = frozenset({"synthetic_segmentation"})
REGRESSION_DATA = frozenset({"diabetes", "linear_plus_noise", "sine"})
SWITCHABLE_SKIPS = frozenset({"telescope_mlp", "dense_skip_mlp"})
BLOCK_FAMILIES = frozenset({"resnet_mlp", "resnet_cnn", "highway_mlp"})

PROBE_FAMILIES: dict[str, frozenset[str]] = {
    "skip_ablation": frozenset({"telescope_mlp"}),
    "identity_ratio": BLOCK_FAMILIES,
    "block_lesion": BLOCK_FAMILIES,
    "l1_linearity": frozenset({"skip_layer_mlp"}),
}
PROBE_DATA: dict[str, frozenset[str]] = {
    "depth_error": frozenset({"sine"}),
    "skip_ablation": REGRESSION_DATA,
    "l1_linearity": REGRESSION_DATA,
}


def task_of(data_name: str) -> str:
    """'regression' | 'classification' | 'segmentation' for a data set name."""
    if data_name in REGRESSION_DATA:
        return "regression"
    if data_name in SEGMENTATION_DATA:
        return "segmentation"
    return "classification"


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    model: ModelParams
    data: DataParams
    train: TrainParams = Field(default_factory=TrainParams)
    probes: list[ProbeParams] = Field(default_factory=list, max_length=16)
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS
    )
    sweep: dict[str, list[SweepValue]] = Field(default_factory=dict, max_length=8)
    tags: dict[str, str] = Field(default_factory=dict, max_length=32)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be unique, got {v}")
        return v

    @field_validator("probes")
    @classmethod
    def _unique_probes(cls, v: list[Any]) -> list[Any]:
        names = [p.name for p in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"probe listed twice: {', '.join(dup)}")
        return v

    @field_validator("sweep")
    @classmethod
    def _sweep_shape(cls, v: dict[str, list[SweepValue]]) -> dict[str, list[SweepValue]]:
        for key, values in v.items():
            section, _, rest = key.partition(".")
            if section not in ("model", "data", "train") or not rest:
                raise ValueError(
                    f"sweep key {key!r} must be a dotted path under model., data. or train. (e.g. 'model.depth')"
                )
            if not 1 <= len(values) <= MAX_SWEEP_VALUES:
                raise ValueError(f"sweep {key!r} needs 1 to {MAX_SWEEP_VALUES} values, got {len(values)}")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> "ExperimentSpec":
        check_combination(self)
        n = len(self.seeds)
        for values in self.sweep.values():
            n *= len(values)
        if n > MAX_RUNS:
            raise ValueError(f"seeds x sweep expands to {n} runs; the limit is {MAX_RUNS}")
        if self.sweep:
            # Validate every sweep point now, so a bad value is a 422 naming the key, not a failed run.
            for point in _points(self.sweep):
                resolve(self, point)
        return self

    def expand(self) -> list["RunPlan"]:
        """One RunPlan per (sweep point x seed), sweep points outermost, in spec order."""
        plans = []
        for point in _points(self.sweep):
            resolved = resolve(self, point) if point else self
            for seed in self.seeds:
                plans.append(RunPlan(seed=seed, params=dict(point), spec=resolved))
        return plans


@dataclass(frozen=True)
class RunPlan:
    seed: int
    params: dict[str, SweepValue] = field(default_factory=dict)
    spec: ExperimentSpec | None = None

    def run_spec(self) -> dict[str, Any]:
        """The resolved spec of this one run as JSON: no sweep, one seed."""
        assert self.spec is not None
        d = self.spec.model_dump(mode="json")
        d["sweep"] = {}
        d["seeds"] = [self.seed]
        return d


def _points(sweep: dict[str, list[SweepValue]]) -> list[dict[str, SweepValue]]:
    if not sweep:
        return [{}]
    keys = list(sweep)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(sweep[k] for k in keys))]


def resolve(spec: ExperimentSpec, point: dict[str, SweepValue]) -> ExperimentSpec:
    """The spec with one sweep point applied; raises ValueError naming the sweep key if invalid."""
    d = spec.model_dump(mode="json")
    d["sweep"] = {}
    for key, value in point.items():
        node = d
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"sweep key {key!r}: {part!r} is not a section of the spec")
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    try:
        return ExperimentSpec.model_validate(d)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"sweep {key_list(point)}: {where}: {first['msg']}") from None


def key_list(point: dict[str, SweepValue]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def check_combination(spec: ExperimentSpec) -> None:
    """Raise ValueError when the model, data and probes cannot work together."""
    family, data = spec.model.family, spec.data.name
    if family == "unet" and data not in SEGMENTATION_DATA:
        raise ValueError(f"model.family 'unet' needs segmentation data (synthetic_segmentation), got {data!r}")
    if family in IMAGE_FAMILIES - {"unet"} and data not in IMAGE_CLASSIFICATION_DATA:
        raise ValueError(
            f"model.family {family!r} needs image data ({', '.join(sorted(IMAGE_CLASSIFICATION_DATA))}), got {data!r}"
        )
    if family in MLP_FAMILIES and data in SEGMENTATION_DATA:
        raise ValueError(f"model.family {family!r} cannot be trained on segmentation data {data!r}")
    for probe in spec.probes:
        families = PROBE_FAMILIES.get(probe.name)
        if families is not None and family not in families:
            raise ValueError(
                f"probe {probe.name!r} needs model.family in {sorted(families)}, got {family!r}"
            )
        datas = PROBE_DATA.get(probe.name)
        if datas is not None and data not in datas:
            raise ValueError(f"probe {probe.name!r} needs data.name in {sorted(datas)}, got {data!r}")
    if spec.train.skip_star is not None and family not in SWITCHABLE_SKIPS:
        raise ValueError(
            f"train.skip_star needs a model with switchable skips ({', '.join(sorted(SWITCHABLE_SKIPS))}), got {family!r}"
        )
    if spec.train.skip_star is not None and spec.train.skip_star.skip_start == "zero" and family == "telescope_mlp":
        raise ValueError(
            "train.skip_star.skip_start 'zero' needs skips with weights (dense_skip_mlp); telescope_mlp's skips "
            "are identities with nothing to start at zero: set skip_start 'as_initialised'"
        )


def json_schema() -> dict[str, Any]:
    return ExperimentSpec.model_json_schema()


__all__ = [
    "DATASET_NAMES",
    "ExperimentSpec",
    "FAMILIES",
    "PROBE_NAMES",
    "RunPlan",
    "TrainParams",
    "check_combination",
    "json_schema",
    "resolve",
    "task_of",
]
