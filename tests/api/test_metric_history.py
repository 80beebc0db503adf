"""GET /v1/runs/{id}/metrics/{key}: the compact JSON body, downsampling, gzip for large bodies only."""

from __future__ import annotations

import gzip
import json

import pytest

from api.schemas import MetricHistory, iso_ts
from persistence.db import session_scope
from persistence.repo import metrics as metrics_repo
from tests.factories import make_spec

T0 = 1.7e9


def _run_with_points(client, n: int) -> str:
    r = client.post("/v1/experiments", json=make_spec(name="hist"))
    assert r.status_code == 201, r.text
    run_id = r.json()["runs"][0]["id"]
    pts = [("loss", st, float("nan") if st == 3 else 1.0 / (st + 1), T0 + st // 10) for st in range(n)]
    with session_scope(client.app.state.skipcore.sessions) as s:
        metrics_repo.upsert_points(s, run_id, pts)
    return run_id


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_full_history_body_is_compact_valid_and_complete(client):
    run_id = _run_with_points(client, 5000)
    r = client.get(f"/v1/runs/{run_id}/metrics/loss", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert "content-encoding" not in r.headers
    assert b": " not in r.content and b"NaN" not in r.content  # compact, strict JSON
    body = MetricHistory.model_validate_json(r.content)  # the documented schema
    assert body.next_cursor is None and not body.downsampled and len(body.points) == 5000
    assert body.points[3].value is None
    assert [(p.step, p.value, p.time) for p in body.points[:3]] == [(s, 1.0 / (s + 1), iso_ts(T0)) for s in range(3)]
    assert body.points[4999].time == iso_ts(T0 + 499)
    page = client.get(f"/v1/runs/{run_id}/metrics/loss", params={"limit": 1000}).json()
    assert len(page["points"]) == 1000 and page["next_cursor"] == "999"


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_large_bodies_are_gzipped_small_ones_not(client):
    run_id = _run_with_points(client, 5000)
    plain = client.get(f"/v1/runs/{run_id}/metrics/loss", headers={"Accept-Encoding": "identity"}).content
    raw = client.stream("GET", f"/v1/runs/{run_id}/metrics/loss", headers={"Accept-Encoding": "gzip"})
    with raw as r:
        assert r.headers["content-encoding"] == "gzip"
        zipped = b"".join(r.iter_raw())
    assert gzip.decompress(zipped) == plain and len(zipped) < len(plain) / 4
    small = client.get(f"/v1/runs/{run_id}/metrics", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers and small.json() == {"keys": ["loss"]}


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_downsampled_history_through_the_api(client):
    run_id = _run_with_points(client, 20_000)
    r = client.get(f"/v1/runs/{run_id}/metrics/loss", params={"max_points": 100})
    body = r.json()
    steps = [p["step"] for p in body["points"]]
    assert body["downsampled"] is True and 0 < len(steps) <= 100
    assert steps[0] == 0 and steps[-1] == 19_999 and steps == sorted(set(steps))
    assert json.dumps(body, allow_nan=False)
    assert client.get(f"/v1/runs/{run_id}/metrics/nope", params={"max_points": 100}).status_code == 404
    assert client.get(f"/v1/runs/{run_id}/metrics/loss", params={"max_points": 1}).status_code == 422


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_nan_and_infinities_are_json_null_in_histories_and_summaries(client):
    """JSON has no NaN: a non-finite point keeps its step and time, its value is null (whole
    history, downsampled history and the run's latest values)."""
    r = client.post("/v1/experiments", json=make_spec(name="nonfinite"))
    run_id = r.json()["runs"][0]["id"]
    vals = [1.0, float("nan"), float("inf"), float("-inf")] + [float(i) for i in range(40)]
    with session_scope(client.app.state.skipcore.sessions) as s:
        metrics_repo.upsert_points(s, run_id, [("loss", st, v, T0 + st) for st, v in enumerate(vals)])
        metrics_repo.upsert_points(s, run_id, [("grad", 0, float("inf"), T0)])
    for params in ({}, {"max_points": 10}):
        r = client.get(f"/v1/runs/{run_id}/metrics/loss", params=params)
        assert r.status_code == 200, r.text
        points = json.loads(r.text)  # strict JSON: no NaN / Infinity tokens
        assert "NaN" not in r.text and "Infinity" not in r.text
        by_step = {p["step"]: p["value"] for p in points["points"]}
        assert by_step[0] == 1.0 and by_step[max(by_step)] == 39.0
        assert all(by_step[st] is None for st in (1, 2, 3) if st in by_step)
    full = {p["step"]: p["value"] for p in client.get(f"/v1/runs/{run_id}/metrics/loss").json()["points"]}
    assert [full[st] for st in (1, 2, 3)] == [None, None, None]
    with session_scope(client.app.state.skipcore.sessions) as s:
        assert metrics_repo.latest(s, [run_id])[run_id] == {"loss": 39.0, "grad": None}


def _as_columns(body: dict) -> dict:
    pts = body.pop("points")
    return {**body, "steps": [p["step"] for p in pts], "values": [p["value"] for p in pts],
            "times": [p["time"] for p in pts]}


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_columnar_history_has_the_same_content_as_the_default_points(client):
    run_id = _run_with_points(client, 3000)
    with session_scope(client.app.state.skipcore.sessions) as s:  # non-finite values of every kind
        metrics_repo.upsert_points(s, run_id, [("loss", 3000, float("inf"), T0 + 300),
                                               ("loss", 3001, float("-inf"), T0 + 300)])
    url = f"/v1/runs/{run_id}/metrics/loss"
    for params in ({}, {"limit": 700}, {"limit": 700, "cursor": "1400"}, {"max_points": 100},
                   {"step_min": 10, "step_max": 2500}, {"max_points": 50, "step_min": 100, "step_max": 2000}):
        default = client.get(url, params=params)
        columns = client.get(url, params={**params, "format": "columns"})
        assert default.status_code == columns.status_code == 200, (default.text, columns.text)
        assert set(default.json()) == {"key", "points", "next_cursor", "downsampled"}  # the contract's shape
        assert "NaN" not in columns.text and "Infinity" not in columns.text
        assert columns.json() == _as_columns(default.json()), params
    whole = client.get(url, params={"format": "columns"}).json()
    assert len(whole["steps"]) == 3002 and whole["values"][3] is None and whole["values"][-2:] == [None, None]
    assert whole["times"][2999] == iso_ts(T0 + 299)
    bad = client.get(url, params={"format": "rows"})
    assert bad.status_code == 422 and "format" in bad.text
