"""Response models of CONTRACT.md, apart from the tables. Extra fields are additions, never renames."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


def iso(dt: Optional[datetime]) -> Optional[str]:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_ts(ts: float) -> str:
    return iso(datetime.fromtimestamp(ts, timezone.utc))  # type: ignore[return-value]


class Progress(BaseModel):
    epoch: int
    epochs: int
    fraction: Optional[float]
    eta_seconds: Optional[float]


class RunOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "id": "5f0c…", "experiment_id": "9a1b…", "status": "running", "seed": 0,
        "params": {"model.depth": 8}, "started_at": "2026-11-23T10:00:00Z", "finished_at": None,
        "progress": {"epoch": 12, "epochs": 100, "fraction": 0.12, "eta_seconds": 41.5},
        "summary": {}, "error": None, "attempts": 1, "resumes": 0}})

    id: str
    experiment_id: str
    status: str
    seed: int
    params: dict[str, Any]
    created_at: Optional[str] = None
    started_at: Optional[str]
    finished_at: Optional[str]
    progress: Progress
    summary: dict[str, Any]
    error: Optional[str]
    attempts: int = 0
    resumes: int = 0
    index: int = 0


class ExperimentOut(BaseModel):
    id: str
    name: str
    status: str
    created_at: str
    started_at: Optional[str]
    finished_at: Optional[str]
    spec: dict[str, Any]
    runs: list[RunOut]
    run_counts: dict[str, int] = Field(
        default_factory=dict, description="how many runs are in each status (every status named, zeros included)",
        examples=[{"queued": 0, "running": 2, "succeeded": 1, "failed": 0, "cancelling": 0, "cancelled": 1}])
    error: Optional[str]
    owner: Optional[str] = None


class ExperimentPage(BaseModel):
    items: list[ExperimentOut]
    next_cursor: Optional[str]


class MetricKeys(BaseModel):
    keys: list[str]


class Point(BaseModel):
    step: int
    value: Optional[float] = Field(description="null when the value was NaN or infinite")
    time: str


class MetricHistory(BaseModel):
    key: str
    points: list[Point]
    next_cursor: Optional[str]
    downsampled: bool = False


class LayerStatOut(BaseModel):
    name: str
    step: int
    values: list[Optional[float]]


class LayerStats(BaseModel):
    stats: list[LayerStatOut]
    layers: list[str] = Field(default_factory=list, description="layer names, one per value")


class ProbeOut(BaseModel):
    name: str
    status: str
    result: dict[str, Any]
    error: Optional[str] = None


class ProbeList(BaseModel):
    items: list[ProbeOut]


# results across runs: aggregate, compare, layer matrix


class Stat(BaseModel):
    mean: Optional[float]
    std: Optional[float] = Field(description="sample standard deviation (ddof=1); null for n < 2")
    ci95: Optional[list[float]] = Field(description="Student-t 95% CI of the mean, [lo, hi]; null for n < 2")
    n: int = Field(description="succeeded runs with a finite value")


class LayerAgg(BaseModel):
    mean: list[Optional[float]]
    std: list[Optional[float]]
    ci95: list[Optional[list[float]]]
    n: list[int]


class AggregatePoint(BaseModel):
    params: dict[str, Any]
    n: int = Field(description="succeeded runs of this point")
    runs: dict[str, int] = Field(description="runs of this point by status")
    run_ids: list[str]
    seeds: list[int]
    metrics: dict[str, Stat]
    layers: Optional[dict[str, LayerAgg]] = None


class Aggregate(BaseModel):
    experiment_id: str
    status: str
    points: list[AggregatePoint]
    metrics: list[str] = Field(description="every metric name in `points`, sorted")


class CompareItem(BaseModel):
    id: str
    name: str
    status: str
    spec: dict[str, Any] = Field(description="the model, data and train sections of the spec")
    sweep: dict[str, Any] = Field(default_factory=dict)
    runs: int = Field(description="runs in the experiment")
    succeeded: int
    summary: dict[str, Stat]


class Compare(BaseModel):
    experiments: list[CompareItem]
    metrics: list[str]


class LayerMatrixOut(BaseModel):
    run_id: str
    name: str
    layers: list[str]
    steps: list[int]
    values: list[list[Optional[float]]] = Field(description="one row per step, one value per layer")


class ArtifactOut(BaseModel):
    name: str
    kind: str
    size: int
    sha256: str
    url: str
    content_type: str = "application/octet-stream"


class ArtifactList(BaseModel):
    items: list[ArtifactOut]


class Health(BaseModel):
    status: str
    database: str


class FieldError(BaseModel):
    """One problem: our `field` / `message`, and FastAPI's conventional `loc` / `msg` / `type`."""

    model_config = ConfigDict(extra="allow")  # a resource_limit error adds its `estimate`

    field: str = Field(description="the dotted path of the field, e.g. model.depth or probes[0].name")
    message: str = Field(description="what is wrong, in plain words (with the valid names where there are some)")
    type: str = Field(description="a machine-readable kind, e.g. extra_forbidden, union_tag_invalid, enum")
    loc: list[Union[str, int]] = Field(description="FastAPI's location: the request part, then the path")
    msg: str = Field(description="FastAPI's message: the same as `message`")


class FieldErrors(BaseModel):
    """Every 422: `detail` lists each field and why; `message` sums them up."""

    detail: list[FieldError]
    message: str


UNPROCESSABLE = {422: {"model": FieldErrors, "description": "invalid input; `detail` lists each field and why"}}
