"""/metrics (Prometheus text format, read key): queue depth, runs by status, the run duration
histogram, request latency and metric points stored, checked against what is in the database
(SQLite and Postgres)."""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Run, utcnow
from persistence.repo import metrics as metrics_repo
from tests.factories import make_spec


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_report_queue_runs_durations_latency_and_points(client, settings):
    exp = client.post("/v1/experiments", json=make_spec(seeds=[0, 1, 2])).json()
    ids = [r["id"] for r in exp["runs"]]
    engine = make_engine(str(settings.database_url))
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            done = s.get(Run, ids[0])
            done.status, done.finished_at = "succeeded", utcnow()
            done.started_at = done.finished_at - timedelta(seconds=42)
            s.get(Run, ids[1]).status = "running"
            metrics_repo.upsert_points(s, ids[0], [("train_loss", i, 1.0 / i, time.time()) for i in range(1, 8)])
    finally:
        engine.dispose()  # its backend exits, so Postgres's statistics have the inserts
    client.get("/v1/experiments")

    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = _samples(r.text)
    assert got[("skipcore_queue_depth", ())] == 1
    assert got[("skipcore_runs", (("status", "queued"),))] == 1
    assert got[("skipcore_runs", (("status", "running"),))] == 1
    assert got[("skipcore_runs", (("status", "succeeded"),))] == 1
    assert got[("skipcore_runs", (("status", "failed"),))] == 0
    assert got[("skipcore_oldest_queued_seconds", ())] >= 0
    # the 42 s run: in the 60 s bucket, not the 15 s one
    assert got[("skipcore_run_duration_seconds_count", (("status", "succeeded"),))] == 1
    assert got[("skipcore_run_duration_seconds_bucket", (("le", "15.0"), ("status", "succeeded")))] == 0
    assert got[("skipcore_run_duration_seconds_bucket", (("le", "60.0"), ("status", "succeeded")))] == 1
    assert 41 < got[("skipcore_run_duration_seconds_sum", (("status", "succeeded"),))] < 43
    key = ("skipcore_http_request_seconds_count", (("method", "GET"), ("route", "/v1/experiments"),
                                                   ("status", "200")))
    assert got[key] >= 1
    assert got[("skipcore_http_request_seconds_count", (("method", "POST"), ("route", "/v1/experiments"),
                                                       ("status", "201")))] >= 1
    assert got[("skipcore_metric_points", ())] == 7
