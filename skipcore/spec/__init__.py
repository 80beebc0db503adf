"""The experiment spec: what a researcher POSTs. Imports pydantic only, never torch.

`ExperimentSpec.expand()` turns `seeds` x `sweep` into one `RunPlan` per run, each carrying the
fully resolved spec of that run (the sweep point applied, re-validated).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skipcore.spec.data import DATA_SPECS, DATASET_NAMES, DataInfo, DataParams
from skipcore.spec.data import _Data as _DataBase
from skipcore.spec.declared import member
from skipcore.spec.models import FAMILIES, IMAGE_FAMILIES, MLP_FAMILIES, MODEL_SPECS, ModelParams, providing
from skipcore.spec.models import _Model as _ModelBase
from skipcore.spec.probes import PROBE_NAMES, PROBE_SPECS, ProbeParams
from skipcore.spec.probes import _Probe as _ProbeBase
from skipcore.spec.sizes import Estimate
from skipcore.spec.train import TrainParams

MAX_RUNS = 1000
MAX_SEEDS = 100
MAX_SWEEP_VALUES = 200

SweepValue = Union[bool, int, float, str, None]

# Which data a family can train on, and which families a probe can inspect, follow from what the
# spec classes declare (TASKS / IMAGES / PROVIDES of a family, TASK / IMAGES of a data set, NEEDS_*
# of a probe). Checked here (not in the torch code) so that a wrong combination is a 422 at POST
# time, not a failed run an hour later.
SWITCHABLE_SKIPS = frozenset(providing("switchable_skips"))


def task_of(data_name: str) -> str:
    """'regression' | 'classification' | 'segmentation' for a data set name."""
    return member(_DataBase, data_name).TASK


def _fits(model: type, data: type) -> bool:
    return data.TASK in model.TASKS and (data.IMAGES or not model.IMAGES)


def _probe_data(probe: type) -> Optional[tuple[str, ...]]:
    """The data sets probe class `probe` works on; None for any."""
    if probe.NEEDS_DATA is None and probe.NEEDS_TASK is None:
        return None
    return tuple(sorted(n for n, d in DATA_SPECS.items()
                        if (probe.NEEDS_DATA is None or n in probe.NEEDS_DATA)
                        and (probe.NEEDS_TASK is None or d.TASK == probe.NEEDS_TASK)))


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
    model_cls, data_cls = member(_ModelBase, family), member(_DataBase, data)
    if not _fits(model_cls, data_cls):
        kind = " or ".join(sorted(model_cls.TASKS)) + (" image" if model_cls.IMAGES else "")
        fitting = sorted(n for n, d in DATA_SPECS.items() if _fits(model_cls, d))
        raise ValueError(f"model.family {family!r} needs {kind} data ({', '.join(fitting)}), got {data!r}")
    for probe in spec.probes:
        probe_cls = member(_ProbeBase, probe.name)
        if probe_cls.NEEDS_MODEL is not None and probe_cls.NEEDS_MODEL not in model_cls.PROVIDES:
            raise ValueError(
                f"probe {probe.name!r} needs model.family in {list(providing(probe_cls.NEEDS_MODEL))}, got {family!r}"
            )
        datas = _probe_data(probe_cls)
        if datas is not None and data not in datas:
            raise ValueError(f"probe {probe.name!r} needs data.name in {list(datas)}, got {data!r}")
    skip_star = spec.train.skip_star
    if skip_star is not None and "switchable_skips" not in model_cls.PROVIDES:
        raise ValueError(
            f"train.skip_star needs a model with switchable skips ({', '.join(sorted(SWITCHABLE_SKIPS))}), got {family!r}"
        )
    if skip_star is not None and skip_star.skip_start == "zero" and "weighted_skips" not in model_cls.PROVIDES:
        raise ValueError(
            f"train.skip_star.skip_start 'zero' needs skips with weights ({', '.join(providing('weighted_skips'))}); "
            f"{family}'s skips are identities with nothing to start at zero: set skip_start 'as_initialised'"
        )


def json_schema() -> dict[str, Any]:
    return ExperimentSpec.model_json_schema()


__all__ = [
    "DATASET_NAMES",
    "DATA_SPECS",
    "DataInfo",
    "Estimate",
    "ExperimentSpec",
    "FAMILIES",
    "IMAGE_FAMILIES",
    "MLP_FAMILIES",
    "MODEL_SPECS",
    "PROBE_NAMES",
    "PROBE_SPECS",
    "RunPlan",
    "TrainParams",
    "check_combination",
    "json_schema",
    "resolve",
    "task_of",
]
