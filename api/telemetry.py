"""Prometheus metrics: request latency, runs by status, queue depth, run durations, points written."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from persistence.db import session_scope
from persistence.models import STATUSES
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo

REGISTRY = CollectorRegistry()
REQUEST_LATENCY = Histogram(
    "skipcore_http_request_seconds", "HTTP request latency", ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RUNS = Gauge("skipcore_runs", "Runs by status", ["status"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("skipcore_queue_depth", "Runs waiting to start (status queued)", registry=REGISTRY)
OLDEST_QUEUED = Gauge("skipcore_oldest_queued_seconds", "Age of the oldest queued run", registry=REGISTRY)
POINTS = Gauge("skipcore_metric_points", "Metric points stored", registry=REGISTRY)
RUN_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(method, route, str(status)).observe(seconds)


def render(state: Any) -> tuple[bytes, str]:
    with session_scope(state.sessions) as s:
        counts = run_repo.by_status_counts(s)
        oldest = run_repo.oldest_queued(s)
        points = metrics_repo.count_points(s)
        durations = run_repo.recent_durations(s, 1000)
    for status in STATUSES:
        RUNS.labels(status).set(counts.get(status, 0))
    QUEUE_DEPTH.set(counts.get("queued", 0))
    OLDEST_QUEUED.set(time.time() - oldest.timestamp() if oldest else 0)
    POINTS.set(points)
    # Built from the database on each scrape, so every API process reports the same numbers.
    fresh = Histogram("skipcore_run_duration_seconds", "Wall time of the last 1000 finished runs", ["status"],
                      registry=None, buckets=RUN_BUCKETS)
    for status, seconds in durations:
        fresh.labels(status).observe(seconds)
    registry = CollectorRegistry()
    registry.register(fresh)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
