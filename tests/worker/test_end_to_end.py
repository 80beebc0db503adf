"""POST -> a real Celery worker process trains it -> read everything back, on both profiles.

Embedded: `skipcore serve` (SQLite, local object store, filesystem broker, real prefork worker).
Production: `skipcore api` + `skipcore worker` on Postgres, Redis and S3 (moto server over HTTP).
"""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow


def check_results(client: httpx.Client, exp_id: str) -> dict:
    exp = client.get(f"/v1/experiments/{exp_id}").json()
    assert exp["status"] == "succeeded", exp
    assert exp["started_at"] and exp["finished_at"]
    run = exp["runs"][0]
    assert run["progress"]["epoch"] == run["progress"]["epochs"] == 3
    assert run["progress"]["fraction"] == 1.0
    assert run["summary"]["val_loss"] >= 0

    keys = client.get(f"/v1/runs/{run['id']}/metrics").json()["keys"]
    assert {"train_loss", "val_loss"} <= set(keys)
    hist = client.get(f"/v1/runs/{run['id']}/metrics/train_loss").json()
    assert [p["step"] for p in hist["points"]] == [1, 2, 3]
    assert all(p["value"] > 0 and p["time"].endswith("Z") for p in hist["points"])

    layers = client.get(f"/v1/runs/{run['id']}/layers", params={"name": "weight_mean_abs"}).json()
    assert layers["stats"], layers
    assert all(len(s["values"]) == len(layers["layers"]) for s in layers["stats"])

    probes = {p["name"]: p for p in client.get(f"/v1/runs/{run['id']}/probes").json()["items"]}
    assert set(probes) == {"weight_magnitude", "skip_ablation"}
    assert all(p["status"] == "succeeded" for p in probes.values()), probes
    one = client.get(f"/v1/runs/{run['id']}/probes/skip_ablation").json()
    assert one["result"] == probes["skip_ablation"]["result"]

    arts = client.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]
    ckpt = next(a for a in arts if a["kind"] == "checkpoint")
    blob = httpx.get(ckpt["url"]).content
    assert len(blob) == ckpt["size"] and hashlib.sha256(blob).hexdigest() == ckpt["sha256"]
    return run


def submit_and_time(client: httpx.Client) -> tuple[str, float, float]:
    t0 = time.perf_counter()
    r = client.post("/v1/experiments", json=make_spec())
    assert r.status_code == 201, r.text
    exp_id = r.json()["id"]
    seen: list[str] = []
    service.wait_for(client, f"/v1/experiments/{exp_id}", {"running", "succeeded", "failed"}, seen=seen)
    t_running = time.perf_counter() - t0
    final = service.wait_for(client, f"/v1/experiments/{exp_id}", {"succeeded", "failed"}, seen=seen)
    t_done = time.perf_counter() - t0
    assert final["status"] == "succeeded", final
    assert seen[0] in ("queued", "running")
    print(f"\nPOST->running {t_running:.2f}s, POST->succeeded {t_done:.2f}s, statuses {seen}")
    return exp_id, t_running, t_done


def test_embedded_profile_trains_and_serves_results(home):
    with service.embedded(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        exp_id, _, _ = submit_and_time(client)
        check_results(client, exp_id)


def test_production_profile_on_postgres_redis_and_s3(home, fresh_pg_url, redis_url, s3_server):
    settings = dict(database_url=fresh_pg_url, broker_url=redis_url,
                    object_store_url=f"s3://{s3_server.bucket}/e2e", s3_endpoint_url=s3_server.endpoint_url)
    with service.production(home, **settings) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        exp_id, _, _ = submit_and_time(client)
        check_results(client, exp_id)
