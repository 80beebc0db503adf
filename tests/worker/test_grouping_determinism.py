"""Same spec and seed, the same numbers: a run's whole metric history (every key, every step, bit
for bit) and its layer statistics do not depend on which sibling seeds were queued with it or on
SKIPCORE_ENSEMBLE_MAX (real embedded services: API + a Celery worker process each, CPU)."""

from __future__ import annotations

import httpx
import pytest

from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow
FINISHED = {"succeeded", "failed", "cancelled"}
WALL_CLOCK = {"epoch_time", "step_time"}  # the metrics that are durations, not results
SPEC = make_spec(name="grouping", model={"family": "telescope_mlp", "depth": 3, "width": 16},
                 data={"n_train": 128, "n_val": 32}, train={"epochs": 4, "batch_size": 16, "checkpoint_every": 2},
                 probes=[{"name": "weight_magnitude", "every": 1}])


def seed0_numbers(client: httpx.Client, seeds: list[int]) -> dict:
    r = client.post("/v1/experiments", json={**SPEC, "seeds": seeds})
    assert r.status_code == 201, r.text
    exp = service.wait_for(client, f"/v1/experiments/{r.json()['id']}", FINISHED, timeout=120)
    assert exp["status"] == "succeeded", exp
    run = next(x for x in exp["runs"] if x["seed"] == 0)
    keys = client.get(f"/v1/runs/{run['id']}/metrics").json()["keys"]
    hist = {k: [(p["step"], p["value"]) for p in client.get(f"/v1/runs/{run['id']}/metrics/{k}").json()["points"]]
            for k in keys if k not in WALL_CLOCK}
    layers = [(s["name"], s["step"], s["values"]) for s in client.get(f"/v1/runs/{run['id']}/layers").json()["stats"]]
    summary = client.get(f"/v1/runs/{run['id']}").json()["summary"]
    return {"metrics": hist, "layers": layers,
            "summary": {k: v for k, v in summary.items() if k not in ("time_s", "ensemble_size")}}


def test_seed_0_is_bit_identical_alone_with_a_sibling_and_with_ensembles_off(tmp_path):
    got = {}
    for max_ in ("8", "1"):
        home = tmp_path / f"max{max_}"
        home.mkdir()
        with service.embedded(home, device="cpu", metric_flush_seconds="0.3",
                              ensemble_max=max_) as url, httpx.Client(base_url=url, timeout=30) as c:
            got[f"[0,1] max {max_}"] = seed0_numbers(c, [0, 1])
            got[f"[0] max {max_}"] = seed0_numbers(c, [0])
    ref = got["[0] max 1"]
    assert {"train_loss", "val_loss", "lr"} <= set(ref["metrics"]) and len(ref["metrics"]["train_loss"]) == 4
    assert ref["layers"], ref
    for label, numbers in got.items():
        for part in ("metrics", "layers", "summary"):
            assert numbers[part] == ref[part], (label, part)
