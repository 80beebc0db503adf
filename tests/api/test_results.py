"""Results: aggregate across seeds (checked against numpy), compare, the layer matrix, t quantiles,
and the SSE stream of a real run (reconnecting with Last-Event-ID).

The arithmetic tests write run summaries through the persistence repo (no worker); the tests at
the bottom train real runs through one embedded service (`skipcore serve`) shared by the module.
"""

from __future__ import annotations

import math
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.stats import summarize, t975
from persistence.db import session_scope
from persistence.repo import keys as key_repo
from persistence.repo import metrics as metrics_repo
from persistence.repo import runs as run_repo
from tests import service
from tests.factories import make_spec

T_DF2 = 4.302652729911275  # Student t, 0.975 quantile, 2 degrees of freedom (R: qt(0.975, 2))
LAYERS = ["hidden.0", "hidden.1", "output"]


# ------------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("df,expected", [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (9, 2.262),
                                         (10, 2.228), (29, 2.045), (30, 2.042), (120, 1.980), (10**6, 1.960)])
def test_t975_matches_the_tables_to_three_decimals(df, expected):
    assert round(t975(df), 3) == expected


def test_t975_decreases_towards_the_normal_quantile():
    ts = [t975(d) for d in range(1, 120)] + [t975(d) for d in (200, 500, 1000, 10**5)]
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert ts[-1] > 1.959963984540054 > ts[-1] - 0.01


def test_summarize_needs_two_finite_values_for_a_spread():
    assert summarize([]) == {"mean": None, "std": None, "ci95": None, "n": 0}
    assert summarize([2.0, math.nan, math.inf, True, "x", None]) == {"mean": 2.0, "std": None, "ci95": None, "n": 1}
    s = summarize([1.0, 2.0, 4.0])
    std = float(np.std([1, 2, 4], ddof=1))
    assert s["n"] == 3 and s["mean"] == pytest.approx(7 / 3) and s["std"] == pytest.approx(std)
    assert s["ci95"] == pytest.approx([7 / 3 - T_DF2 * std / math.sqrt(3), 7 / 3 + T_DF2 * std / math.sqrt(3)])


# ------------------------------------------------------------------- aggregate and compare (repo)


def _submit(client: TestClient, headers=None, **spec) -> dict:
    r = client.post("/v1/experiments", json=make_spec(**spec), headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()


def _finish(client: TestClient, run_id: str, status: str, summary=None, layers=None, latest=None) -> None:
    with session_scope(client.app.state.skipcore.sessions) as s:
        run_repo.set_layer_names(s, run_id, LAYERS)
        if layers:
            metrics_repo.upsert_layer_stats(s, run_id, layers)
        if latest:
            metrics_repo.upsert_points(s, run_id, [(k, 3, v, time.time()) for k, v in latest.items()])
        assert run_repo.finish(s, run_id, status, summary=summary, error="boom" if status == "failed" else None)


def _expected(values: list[float]) -> dict:
    x = np.asarray(values, dtype=float)
    mean, std = x.mean(), x.std(ddof=1)
    half = T_DF2 * std / math.sqrt(len(x))
    return {"mean": pytest.approx(mean, rel=1e-12), "std": pytest.approx(std, rel=1e-12),
            "ci95": [pytest.approx(mean - half, rel=1e-9), pytest.approx(mean + half, rel=1e-9)], "n": len(x)}


def _fill_sweep(client: TestClient, rng: np.random.Generator) -> tuple[dict, dict]:
    """3 seeds x 2 depths succeed with random numbers; seed 3 fails at depth 2, stays queued at 3."""
    exp = _submit(client, seeds=[0, 1, 2, 3], sweep={"model.depth": [2, 3]})
    numbers: dict = {}
    for run in exp["runs"]:
        if run["seed"] == 3:
            if run["params"]["model.depth"] == 2:
                _finish(client, run["id"], "failed", summary={"val_loss": 1e9})
            continue
        summary = {"train_loss": float(rng.random()), "val_loss": float(rng.random() * 10),
                   "depth_error.mc_error": float(rng.random() / 100), "epochs_run": 3, "flag": True, "note": "x"}
        first, last = rng.random(3).tolist(), rng.random(3).tolist()
        lr = float(rng.random())
        _finish(client, run["id"], "succeeded", summary=summary, latest={"lr": lr, "val_loss": 123.0},
                layers=[("weight_mean_abs", 1, first), ("weight_mean_abs", 3, last), ("grad_norm", 3, first)])
        numbers[run["id"]] = {**summary, "lr": lr, "weight_mean_abs": last}
    return exp, numbers


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_aggregate_per_sweep_point_equals_numpy(client):
    exp, numbers = _fill_sweep(client, np.random.default_rng(0))
    r = client.get(f"/v1/experiments/{exp['id']}/aggregate", params={"layers": "weight_mean_abs"})
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    assert [p["params"] for p in points] == [{"model.depth": 2}, {"model.depth": 3}]
    assert [p["runs"] for p in points] == [{"succeeded": 3, "failed": 1}, {"succeeded": 3, "queued": 1}]
    for p, depth in zip(points, (2, 3)):
        ids = [run["id"] for run in exp["runs"] if run["params"]["model.depth"] == depth]
        assert p["run_ids"] == ids and p["seeds"] == [0, 1, 2, 3]
        done = [numbers[i] for i in ids if i in numbers]
        assert p["n"] == 3
        # summary wins over the latest metric value (val_loss); latest-only keys (lr) count too
        assert set(p["metrics"]) == {"train_loss", "val_loss", "depth_error.mc_error", "epochs_run", "lr"}
        for name in ("train_loss", "val_loss", "depth_error.mc_error", "lr"):
            assert p["metrics"][name] == _expected([d[name] for d in done]), name
        assert p["metrics"]["epochs_run"] == {"mean": 3.0, "std": 0.0, "ci95": [3.0, 3.0], "n": 3}
        # per layer, over each run's LAST weight_mean_abs record
        layer = p["layers"]["weight_mean_abs"]
        for i in range(len(LAYERS)):
            e = _expected([d["weight_mean_abs"][i] for d in done])
            assert (layer["mean"][i], layer["std"][i], layer["ci95"][i]) == (e["mean"], e["std"], e["ci95"])


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_aggregate_filters_metrics_by_repeated_or_comma_names(client):
    exp, numbers = _fill_sweep(client, np.random.default_rng(1))
    path = f"/v1/experiments/{exp['id']}/aggregate"
    for params in ({"metric": "val_loss,lr"}, [("metric", "val_loss"), ("metric", "lr")]):
        points = client.get(path, params=params).json()["points"]
        assert all(list(p["metrics"]) == ["val_loss", "lr"] and "layers" not in p or p["layers"] is None
                   for p in points)
    missing = client.get(path, params={"metric": "no_such"}).json()["points"][0]["metrics"]
    assert missing == {"no_such": {"mean": None, "std": None, "ci95": None, "n": 0}}
    assert client.get(path, params={"metric": ",".join(f"m{i}" for i in range(101))}).status_code == 422
    assert client.get("/v1/experiments/unknown/aggregate").status_code == 404


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_compare_puts_final_summaries_side_by_side(client):
    a, numbers = _fill_sweep(client, np.random.default_rng(2))
    b = _submit(client, name="vanilla", model={"family": "plain_mlp", "depth": 3, "width": 8}, seeds=[0, 1, 2],
                probes=[])
    b_numbers = {}
    for run, v in zip(b["runs"], (0.5, 0.7, 0.9)):
        _finish(client, run["id"], "succeeded", summary={"val_loss": v, "time_s": 2 * v})
        b_numbers[run["id"]] = v
    r = client.get("/v1/compare", params={"experiments": f"{a['id']},{b['id']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["id"] for e in body["experiments"]] == [a["id"], b["id"]]
    ea, eb = body["experiments"]
    assert (ea["runs"], ea["succeeded"], eb["runs"], eb["succeeded"]) == (8, 6, 3, 3)
    assert eb["name"] == "vanilla" and eb["spec"]["model"]["family"] == "plain_mlp"
    assert set(eb["spec"]) == {"model", "data", "train"} and ea["sweep"] == {"model.depth": [2, 3]}
    x = np.array([numbers[i]["val_loss"] for i in numbers])
    assert ea["summary"]["val_loss"]["mean"] == pytest.approx(x.mean())
    assert ea["summary"]["val_loss"]["std"] == pytest.approx(x.std(ddof=1))
    assert ea["summary"]["val_loss"]["ci95"][1] == pytest.approx(x.mean() + t975(5) * x.std(ddof=1) / math.sqrt(6))
    assert eb["summary"]["val_loss"] == _expected([0.5, 0.7, 0.9])
    assert "time_s" not in ea["summary"] and "time_s" in body["metrics"] and "train_loss" in body["metrics"]
    only = client.get("/v1/compare", params=[("experiments", a["id"]), ("experiments", b["id"]),
                                             ("metric", "time_s")]).json()
    assert [list(e["summary"]) for e in only["experiments"]] == [["time_s"], ["time_s"]]
    assert only["experiments"][0]["summary"]["time_s"]["n"] == 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_compare_refuses_no_ids_too_many_ids_and_unknown_ones(client):
    exp = _submit(client)
    for params in ({}, {"experiments": ""}, {"experiments": " , "}):
        r = client.get("/v1/compare", params=params)
        assert r.status_code == 422 and "1 to 20" in r.json()["message"], r.text
    r = client.get("/v1/compare", params={"experiments": ",".join(f"e{i}" for i in range(21))})
    assert r.status_code == 422 and "21 experiment ids" in r.json()["message"]
    r = client.get("/v1/compare", params={"experiments": f"{exp['id']},nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_results_of_another_owner_are_not_found(client):
    with session_scope(client.app.state.skipcore.sessions) as s:
        _, alice = key_repo.create(s, owner="alice", scope="write")
        _, bob = key_repo.create(s, owner="bob", scope="read")
    exp = _submit(client, headers={"Authorization": f"Bearer {alice}"})
    run_id = exp["runs"][0]["id"]
    as_bob = {"Authorization": f"Bearer {bob}"}
    for path in (f"/v1/experiments/{exp['id']}/aggregate", f"/v1/runs/{run_id}/layers/matrix"):
        assert client.get(path, headers=as_bob).status_code == 404, path
        assert client.get(path, headers={"Authorization": f"Bearer {alice}"}).status_code == 200, path
    assert client.get("/v1/compare", params={"experiments": exp["id"]}, headers=as_bob).status_code == 404


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_layer_matrix_is_steps_by_layers_downsampled(client):
    run_id = _submit(client)["runs"][0]["id"]
    rows = [("weight_mean_abs", step, [step + 0.1 * i for i in range(3)]) for step in range(0, 50, 5)]
    _finish(client, run_id, "succeeded", summary={}, layers=rows + [("grad_norm", 7, [1.0, None, 2.0])])
    path = f"/v1/runs/{run_id}/layers/matrix"
    full = client.get(path, params={"name": "weight_mean_abs"}).json()
    assert full["layers"] == LAYERS and full["steps"] == list(range(0, 50, 5))
    assert full["values"] == [r[2] for r in rows]
    small = client.get(path, params={"name": "weight_mean_abs", "max_steps": 4}).json()
    assert len(small["steps"]) == 4 and small["steps"][0] == 0 and small["steps"][-1] == 45
    assert all(len(row) == 3 and row[0] == step for step, row in zip(small["steps"], small["values"]))
    assert client.get(path, params={"name": "grad_norm"}).json()["values"] == [[1.0, None, 2.0]]
    unknown = client.get(path, params={"name": "nothing"})  # names the statistics the run has
    assert unknown.status_code == 404 and "grad_norm, weight_mean_abs" in unknown.json()["detail"], unknown.text
    assert client.get(path, params={"max_steps": 1}).status_code == 422
    assert client.get(path, params={"max_steps": 10_001}).status_code == 422


# ----------------------------------------------------------------------- the real service (slow)

TINY = {"data": {"name": "sine", "n_train": 64, "n_val": 32},
        "train": {"epochs": 3, "checkpoint_every": 10}, "probes": [{"name": "weight_magnitude", "every": 1}]}


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("results_live")
    with service.embedded(home, metric_flush_seconds="0.1") as url:
        yield url


@pytest.fixture(scope="module")
def http(live_url):
    with httpx.Client(base_url=live_url, timeout=30) as c:
        yield c


@pytest.mark.slow
def test_aggregate_of_a_real_two_seed_sweep(http):
    r = http.post("/v1/experiments", json=make_spec(**TINY, seeds=[0, 1], sweep={"model.depth": [2, 3]}))
    assert r.status_code == 201, r.text
    exp = service.wait_for(http, f"/v1/experiments/{r.json()['id']}", {"succeeded", "failed"}, timeout=90)
    assert exp["status"] == "succeeded", exp
    agg = http.get(f"/v1/experiments/{exp['id']}/aggregate",
                   params={"metric": "val_loss,train_loss", "layers": "weight_mean_abs"}).json()
    assert [p["params"] for p in agg["points"]] == [{"model.depth": 2}, {"model.depth": 3}]
    for p in agg["points"]:
        runs = [run for run in exp["runs"] if run["id"] in p["run_ids"]]
        assert p["n"] == 2 and p["runs"] == {"succeeded": 2} and sorted(r["seed"] for r in runs) == [0, 1]
        for name in ("val_loss", "train_loss"):
            x = np.array([run["summary"][name] for run in runs])
            m = p["metrics"][name]
            half = 12.706204736174698 * x.std(ddof=1) / math.sqrt(2)
            assert m["mean"] == pytest.approx(x.mean()) and m["std"] == pytest.approx(x.std(ddof=1))
            assert m["ci95"] == [pytest.approx(x.mean() - half), pytest.approx(x.mean() + half)]
        layer_names = http.get(f"/v1/runs/{runs[0]['id']}/layers").json()["layers"]
        assert len(p["layers"]["weight_mean_abs"]["mean"]) == len(layer_names) == p["params"]["model.depth"] + 1


def _read_events(client: httpx.Client, run_id: str, last_id=None, stop_after_metrics: bool = False) -> list[tuple]:
    """(id, event, data) of the run's SSE stream; optionally hang up after the first metrics event."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    out: list[tuple] = []
    with client.stream("GET", f"/v1/runs/{run_id}/events", headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        block: dict = {}
        for line in r.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                block[name] = value
                continue
            if "id" in block:
                out.append((int(block["id"]), block["event"], block["data"]))
                if stop_after_metrics and block["event"] == "metrics":
                    break
            block = {}
    return out


@pytest.mark.slow
def test_events_stream_a_real_run_and_resume_after_last_event_id(http):
    spec = make_spec(**TINY, seeds=[0])
    spec["train"]["epochs"] = 10
    run_id = http.post("/v1/experiments", json=spec).json()["runs"][0]["id"]
    first = _read_events(http, run_id, stop_after_metrics=True)  # live: connect while queued/running
    kinds = [k for _, k, _ in first]
    assert "status" in kinds and kinds[-1] == "metrics", first
    rest = _read_events(http, run_id, last_id=first[-1][0])  # reconnect: only what came after
    assert rest and all(i > first[-1][0] for i, _, _ in rest)
    assert rest[-1][1] == "status" and '"succeeded"' in rest[-1][2]
    whole = _read_events(http, run_id)  # the run is over: a fresh connection replays it all
    assert first + rest == whole
    ids = [i for i, _, _ in whole]
    assert ids == sorted(set(ids))
    assert {"status", "progress", "metrics"} <= {k for _, k, _ in whole}
    assert any('"val_loss"' in d for _, k, d in whole if k == "metrics")


@pytest.mark.slow
def test_client_events_resume_from_last_event_id(live_url, http):
    from client import Client

    run_id = http.get("/v1/experiments", params={"limit": 1}).json()["items"][0]["runs"][0]["id"]
    with Client(live_url) as c:
        evs = list(c.events(run_id))
        assert evs[-1].event == "status" and evs[-1].data["status"] == "succeeded"
        later = list(c.events(run_id, last_event_id=evs[2].id))
        assert [e.id for e in later] == [e.id for e in evs[3:]]
        assert [e.data for e in later] == [e.data for e in evs[3:]]


def test_api_and_reproduce_t_quantiles_agree_with_scipy_for_df_1_to_200():
    from scipy.stats import t as student_t

    from reproduce import stats as reproduce_stats

    for df in range(1, 201):
        exact = student_t.ppf(0.975, df)
        assert t975(df) == pytest.approx(exact, rel=1e-12), df
        assert reproduce_stats.t975(df) == pytest.approx(exact, rel=1e-12), df


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_aggregate_ci95_of_41_seeds_uses_the_exact_t_quantile(client):
    """df = 40: the exact quantile is 2.0211, not the normal 1.96 (a 3% narrower interval)."""
    from scipy.stats import t as student_t

    from reproduce import stats as reproduce_stats

    exp = _submit(client, seeds=list(range(41)))
    values = [float(i % 7) for i in range(41)]
    for run, v in zip(exp["runs"], values):
        _finish(client, run["id"], "succeeded", summary={"val_loss": v})
    (point,) = client.get(f"/v1/experiments/{exp['id']}/aggregate").json()["points"]
    x = np.asarray(values)
    half = student_t.ppf(0.975, 40) * x.std(ddof=1) / math.sqrt(41)
    assert point["metrics"]["val_loss"]["ci95"] == [pytest.approx(x.mean() - half, rel=1e-12),
                                                    pytest.approx(x.mean() + half, rel=1e-12)]
    mine = reproduce_stats.stat(values)  # the report's own statistics agree with the API's
    assert [mine.lo, mine.hi] == [pytest.approx(v, rel=1e-12) for v in point["metrics"]["val_loss"]["ci95"]]
