"""Timestamps are timezone-aware UTC wherever they are read, whatever the host's time zone: the
API process runs with TZ=America/New_York (UTC-5) on SQLite, which keeps no zone."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
from prometheus_client.parser import text_string_to_metric_families

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.models import Run
from persistence.schema import upgrade
from tests import service
from tests.conftest import free_port
from tests.factories import make_spec


def _oldest_queued(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    (value,) = [s.value for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name == "skipcore_oldest_queued_seconds"]
    return value


def test_oldest_queued_age_is_seconds_on_a_host_west_of_utc(home):
    env = service.service_env(home)
    env["TZ"] = "America/New_York"
    subprocess.run(service.CLI + ["db", "upgrade"], env=env, cwd=service.ROOT, check=True, capture_output=True)
    port = free_port()
    log = home / "api.log"
    api = service._spawn(service.CLI + ["api", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        service.wait_healthy(url, [api], [log])
        t0 = time.monotonic()
        r = httpx.post(url + "/v1/experiments", json=make_spec(), timeout=30)
        assert r.status_code == 201, r.text
        created = datetime.fromisoformat(r.json()["created_at"].replace("Z", "+00:00"))
        assert abs((created - datetime.now(timezone.utc)).total_seconds()) < 60, created
        age = _oldest_queued(url)
        assert 0 <= age <= time.monotonic() - t0 + 1, f"oldest queued run is {age:.0f}s old"
    finally:
        service.stop(api)


def test_every_timestamp_reads_back_aware_utc_and_naive_writes_are_taken_as_utc(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    from persistence.repo import experiments as repo

    try:
        with session_scope(sessions) as s:
            exp = repo.create(s, name="t", spec={}, runs=[(0, {}, {})], owner="local")
            run = s.get(Run, exp.runs[0].id)
            beat = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
            run.heartbeat_at, run.started_at = beat, datetime(2026, 1, 2, 8, 4, 5)  # naive: UTC
        with session_scope(sessions) as s:
            run = s.get(Run, exp.runs[0].id)
            for value in (run.created_at, run.enqueued_at, run.heartbeat_at, run.started_at):
                assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value
            assert run.heartbeat_at == run.started_at == datetime(2026, 1, 2, 8, 4, 5, tzinfo=timezone.utc)
    finally:
        engine.dispose()
