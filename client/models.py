"""The typed objects the client returns (the response shapes of docs/api.md), built from the JSON answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class _Finishes:
    """`finished` for a record with a `status` (a run or an experiment)."""

    status: str

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class Progress:
    epoch: int = 0
    epochs: int = 0
    fraction: Optional[float] = None
    eta_seconds: Optional[float] = None
    phase: Optional[str] = None  # what a run does after its epochs, when the server says so

    @classmethod
    def of(cls, d: Optional[dict]) -> "Progress":
        d = d or {}
        return cls(d.get("epoch") or 0, d.get("epochs") or 0, d.get("fraction"), d.get("eta_seconds"), d.get("phase"))


@dataclass
class Run(_Finishes):
    id: str
    experiment_id: str
    status: str
    seed: int
    params: dict[str, Any]
    progress: Progress
    summary: dict[str, Any]
    error: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, d: dict) -> "Run":
        return cls(d["id"], d["experiment_id"], d["status"], d["seed"], d.get("params") or {},
                   Progress.of(d.get("progress")), d.get("summary") or {}, d.get("error"), d.get("started_at"),
                   d.get("finished_at"), d)


@dataclass
class Experiment(_Finishes):
    id: str
    name: str
    status: str
    created_at: str
    spec: dict[str, Any]
    runs: list[Run]
    error: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, d: dict) -> "Experiment":
        return cls(d["id"], d["name"], d["status"], d["created_at"], d.get("spec") or {},
                   [Run.of(r) for r in d.get("runs") or []], d.get("error"), d.get("started_at"),
                   d.get("finished_at"), d)


@dataclass
class Point:
    step: int
    value: Optional[float]
    time: str


@dataclass
class LayerStat:
    name: str
    step: int
    values: list[Optional[float]]


@dataclass
class LayerMatrix:
    name: str
    layers: list[str]
    steps: list[int]
    values: list[list[Optional[float]]]


@dataclass
class Probe:
    name: str
    status: str
    result: dict[str, Any]
    error: Optional[str] = None


@dataclass
class Artifact:
    name: str
    kind: str
    size: int
    sha256: str
    url: str
    content_type: str = "application/octet-stream"


@dataclass
class Stat:
    mean: Optional[float]
    std: Optional[float]
    ci95: Optional[list[float]]
    n: int = 0

    @classmethod
    def of(cls, d: dict) -> "Stat":
        return cls(d.get("mean"), d.get("std"), d.get("ci95"), d.get("n", 0))


@dataclass
class AggregatePoint:
    params: dict[str, Any]
    n: int
    runs: dict[str, int]
    run_ids: list[str]
    metrics: dict[str, Stat]
    layers: Optional[dict[str, dict[str, list]]] = None


@dataclass
class Aggregate:
    experiment_id: str
    points: list[AggregatePoint]
    metrics: list[str]


@dataclass
class CompareItem:
    id: str
    name: str
    status: str
    spec: dict[str, Any]
    runs: int
    summary: dict[str, Stat]


@dataclass
class Comparison:
    experiments: list[CompareItem]
    metrics: list[str]


@dataclass
class Event:
    """One Server-Sent Event: `event` is status | progress | metrics; `data` the parsed JSON."""

    id: Optional[str]
    event: str
    data: Any


def probe_of(p: dict) -> Probe:
    return Probe(p["name"], p["status"], p.get("result") or {}, p.get("error"))
