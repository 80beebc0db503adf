"""Seed ensembles through the real embedded service (API + a Celery worker process; CPU ensembles
switched on with SKIPCORE_ENSEMBLE_ON_CPU): the seeds of an MLP experiment train as one group, yet each run has its own metrics, equal (rtol 1e-4) to a
sequential `fit` with that seed; a spec the ensemble cannot take runs its seeds one by one."""

from __future__ import annotations

import httpx
import pytest
import torch

from skipcore.spec import ExperimentSpec
from skipcore.train.ensemble import build_models
from skipcore.train.loop import fit
from skipcore.train.reporter import ListReporter
from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow
FINISHED = {"succeeded", "failed", "cancelled"}
TOL = dict(rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("ensemble")
    # a 20 s heartbeat: a cancel must be seen at the next metric flush (0.3 s), not the next heartbeat
    with service.embedded(home, device="cpu", heartbeat_seconds="20", lease_seconds="60",
                          metric_flush_seconds="0.3", ensemble_on_cpu="true") as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        yield c, home


def run_experiment(client, spec: dict) -> dict:
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    return service.wait_for(client, f"/v1/experiments/{r.json()['id']}", FINISHED, timeout=120)


def trained_alone(client, home, spec: dict, reason: str) -> dict:
    """Run `spec`; it succeeds, the worker logged `no seed ensemble (<reason>...` and no run of it
    trained in an ensemble. Returns the finished experiment."""
    exp = run_experiment(client, spec)
    assert exp["status"] == "succeeded", exp
    log = (home / "serve.log").read_text()
    assert f"no seed ensemble ({reason}" in log, log[-3000:]
    for run in exp["runs"]:
        full = client.get(f"/v1/runs/{run['id']}").json()
        assert "ensemble_size" not in full["summary"], full["summary"]
    return exp


def history(client, run_id: str, key: str) -> list[float]:
    return [p["value"] for p in client.get(f"/v1/runs/{run_id}/metrics/{key}").json()["points"]]


def sequential(spec: dict, seed: int) -> ListReporter:
    s = ExperimentSpec.model_validate(spec)
    (m,), (d,) = build_models(s.model, s.data, [seed])
    rep = ListReporter()
    fit(m, d, s.train, probes=s.probes, reporter=rep, seed=seed)
    return rep


def test_three_seeds_train_as_one_group_with_their_own_metrics(served):
    client, home = served
    spec = make_spec(name="ens", train={"epochs": 4, "batch_size": 16, "checkpoint_every": 2},
                     probes=[{"name": "weight_magnitude", "every": 2}], seeds=[0, 1, 2])
    exp = run_experiment(client, spec)
    assert exp["status"] == "succeeded", exp
    runs = sorted(exp["runs"], key=lambda r: r["seed"])
    assert [r["seed"] for r in runs] == [0, 1, 2]
    log = (home / "serve.log").read_text()
    assert "training 3 seeds as one ensemble" in log, log[-3000:]
    assert "torch uses" in log and "thread(s) per worker process" in log  # the worker says its thread count
    # how the seeds were executed is bookkeeping, not a result to average or compare
    agg = client.get(f"/v1/experiments/{exp['id']}/aggregate").json()
    cmp = client.get("/v1/compare", params={"experiments": exp["id"]}).json()
    assert "val_loss" in agg["metrics"] and "ensemble_size" not in agg["metrics"], agg["metrics"]
    assert "val_loss" in cmp["metrics"] and "ensemble_size" not in cmp["metrics"], cmp["metrics"]
    for run in runs:
        full = client.get(f"/v1/runs/{run['id']}").json()
        assert full["summary"]["ensemble_size"] == 3, full["summary"]
        assert full["summary"]["epochs_run"] == 4
        want = sequential(spec, run["seed"])
        for key in ("train_loss", "val_loss"):
            torch.testing.assert_close(torch.tensor(history(client, run["id"], key)),
                                       torch.tensor(want.history(key)), **TOL)
        m = client.get(f"/v1/runs/{run['id']}/layers/matrix", params={"name": "weight_mean_abs"}).json()
        want_layers = want.layer_history("weight_mean_abs")
        assert m["steps"] == sorted(want_layers)
        torch.testing.assert_close(torch.tensor(m["values"]), torch.tensor([want_layers[e] for e in m["steps"]]),
                                   **TOL)
        arts = {a["name"] for a in client.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]}
        assert "checkpoint.pt" in arts  # each run its own checkpoint


def test_a_spec_the_ensemble_cannot_take_runs_seed_by_seed(served):
    client, home = served
    spec = make_spec(name="ens-fallback", model={"family": "resnet_mlp", "depth": 2, "width": 8,
                                                 "stochastic_depth": 0.5},
                     train={"epochs": 2, "batch_size": 16}, probes=[], seeds=[0, 1])
    exp = trained_alone(client, home, spec, "stochastic depth draws from other RNG streams")
    for run in exp["runs"]:
        torch.testing.assert_close(torch.tensor(history(client, run["id"], "train_loss")),
                                   torch.tensor(sequential(spec, run["seed"]).history("train_loss")), **TOL)


@pytest.mark.parametrize("model", [{"family": "telescope_mlp", "depth": 3, "width": 8},
                                   {"family": "resnet_mlp", "depth": 2, "width": 8, "stochastic_depth": 0.5}],
                         ids=["ensemble", "one_by_one"])
def test_the_gradient_records_of_each_run_reach_its_gradient_flow_result(served, model):
    client, _home = served
    spec = make_spec(name="ens-records", model=model, train={"epochs": 2, "batch_size": 16},
                     probes=[{"name": "gradient_flow", "first_k": 3, "every": 1}], seeds=[0, 1])
    exp = run_experiment(client, spec)
    assert exp["status"] == "succeeded", exp
    for run in exp["runs"]:
        got = client.get(f"/v1/runs/{run['id']}/probes/gradient_flow").json()["result"]
        s = ExperimentSpec.model_validate(spec)
        (m,), (d,) = build_models(s.model, s.data, [run["seed"]])
        want = fit(m, d, s.train, probes=s.probes, seed=run["seed"]).records
        assert len(got["first_updates"]) == 3 and [e["epoch"] for e in got["every"]] == [1, 2]
        torch.testing.assert_close(torch.tensor(got["first_updates"]), torch.tensor(want["first_updates"]), **TOL)
        torch.testing.assert_close(torch.tensor([e["grad_norm"] for e in got["every"]]),
                                   torch.tensor([e["grad_norm"] for e in want["every"]]), **TOL)


def test_cancel_of_one_seed_drops_it_from_the_group_and_the_others_finish(served):
    import time

    client, _home = served
    spec = make_spec(name="ens-cancel-one", data={"n_train": 512}, probes=[], seeds=[0, 1, 2],
                     train={"epochs": 80, "batch_size": 32, "checkpoint_every": 5})
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    exp = r.json()
    victim = next(x["id"] for x in exp["runs"] if x["seed"] == 1)
    deadline = time.monotonic() + 60
    while client.get(f"/v1/runs/{victim}").json()["progress"]["epoch"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = client.post(f"/v1/runs/{victim}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelling", r.text
    exp = service.wait_for(client, f"/v1/experiments/{exp['id']}", FINISHED, timeout=120)
    runs = {x["seed"]: client.get(f"/v1/runs/{x['id']}").json() for x in exp["runs"]}
    assert runs[1]["status"] == "cancelled", runs[1]
    kept = history(client, victim, "train_loss")
    assert 3 <= len(kept) < 80
    print(f"\ncancelled seed kept {len(kept)} of 80 epochs (cancel requested at epoch >= 3)")
    for seed in (0, 2):
        assert runs[seed]["status"] == "succeeded" and runs[seed]["summary"]["ensemble_size"] == 3, runs[seed]
        assert len(history(client, runs[seed]["id"], "train_loss")) == 80


def test_on_cpu_big_steps_train_seed_by_seed(served):
    """On CPU a stacked ensemble is slower than its seeds in turn for steps of more than 128 rows
    (bench/bench_ensemble.py), so full-batch seeds of 256 examples are not grouped, and say why."""
    client, home = served
    spec = make_spec(name="ens-big-steps", data={"name": "sine", "n_train": 256, "n_val": 64},
                     train={"epochs": 2, "batch_size": None}, probes=[], seeds=[0, 1])
    trained_alone(client, home, spec, "on CPU a step of 256 rows trains faster seed by seed than stacked")
