"""HTTP client of the skipcore API (httpx only; no torch, no server imports)."""

from client.client import (
    Aggregate,
    AggregatePoint,
    AmbiguousId,
    ApiError,
    Artifact,
    ChecksumError,
    Client,
    CompareItem,
    Comparison,
    Event,
    Experiment,
    LayerMatrix,
    LayerStat,
    Point,
    Probe,
    Progress,
    Run,
    Stat,
)

__all__ = ["Aggregate", "AggregatePoint", "AmbiguousId", "ApiError", "Artifact", "ChecksumError", "Client", "CompareItem",
           "Comparison", "Event", "Experiment", "LayerMatrix", "LayerStat", "Point", "Probe", "Progress", "Run",
           "Stat"]
