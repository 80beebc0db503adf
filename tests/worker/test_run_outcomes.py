"""How runs end, on the real embedded service (`skipcore serve`: API + a Celery worker process):
divergence fails one run and spares its siblings, cancel stops a running run and keeps its
metrics, a cancelled queued run never starts, missing data fails with a readable message.

One service for the whole module (its start-up is the expensive part); runs go through the one
worker in the order they are submitted.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow
FINISHED = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("outcomes")


@pytest.fixture(scope="module")
def client(home):
    # ensemble_max 1: seeds run one by one here, so a queued sibling exists to test "never starts"
    # (seed ensembles: tests/worker/test_ensemble_worker.py)
    with service.embedded(home, device="cpu", heartbeat_seconds="1", metric_flush_seconds="0.3",
                          ensemble_max="1") as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        yield c


def post(client: httpx.Client, spec: dict) -> dict:
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


def wait_exp(client, exp_id: str, timeout: float = 120) -> dict:
    return service.wait_for(client, f"/v1/experiments/{exp_id}", FINISHED, timeout=timeout)


def steps(client, run_id: str, key: str) -> list[int]:
    return [p["step"] for p in client.get(f"/v1/runs/{run_id}/metrics/{key}").json()["points"]]


def test_missing_data_fails_with_a_message_naming_the_files(client):
    spec = make_spec(name="no-cifar", probes=[], train={"optimizer": "sgd", "lr": 0.01, "epochs": 1, "batch_size": 32})
    spec["model"], spec["data"] = {"family": "vanilla_cnn"}, {"name": "cifar10"}  # the data root is empty
    exp = post(client, spec)
    exp = wait_exp(client, exp["id"])
    run = exp["runs"][0]
    assert run["status"] == "failed" and exp["status"] == "failed", exp
    assert "data_batch_1" in run["error"] and "cifar-10-batches-py" in run["error"], run["error"]
    assert "Traceback" not in run["error"]


def test_divergence_fails_that_run_keeps_its_metrics_and_spares_the_others(client):
    # plain MLP, SGD: lr 0.05 blows up in epoch 2 (checked on CPU, seed 0); lr 0.01 trains fine
    spec = make_spec(name="diverge", model={"family": "plain_mlp", "depth": 6, "width": 16},
                     data={"name": "sine", "n_train": 128, "n_val": 32},
                     train={"optimizer": "sgd", "lr": 0.01, "epochs": 6, "batch_size": 32},
                     probes=[{"name": "weight_magnitude", "every": 1}], sweep={"train.lr": [0.01, 0.05]})
    exp = wait_exp(client, post(client, spec)["id"])
    by_lr = {r["params"]["train.lr"]: r for r in exp["runs"]}
    good, bad = by_lr[0.01], by_lr[0.05]
    assert good["status"] == "succeeded", good
    assert steps(client, good["id"], "train_loss") == list(range(1, 7))

    assert bad["status"] == "failed", bad
    m = re.search(r"\b(nan|inf)\b.*epoch (\d+)", bad["error"] or "")
    assert m, bad["error"]
    epoch = int(m.group(2))
    assert epoch >= 1
    # what was recorded before the blow-up is kept: the init (epoch 0) and every finished epoch
    assert steps(client, bad["id"], "val_loss") == list(range(0, epoch)), bad
    assert exp["status"] == "failed" and "1 of 2 runs failed" in exp["error"]


def test_cancel_stops_a_running_run_keeps_metrics_and_queued_runs_never_start(client, home):
    spec = make_spec(name="cancel-me", model={"family": "telescope_mlp", "depth": 8, "width": 32},
                     data={"name": "sine", "n_train": 512, "n_val": 64},
                     train={"optimizer": "adam", "lr": 0.001, "epochs": 400, "batch_size": 32,
                            "checkpoint_every": 5}, probes=[], seeds=[0, 1])
    exp = post(client, spec)
    # one worker process, one run at a time: whichever run the broker delivers first runs, the other
    # waits queued (the filesystem broker does not order two messages sent in the same millisecond)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = client.get(f"/v1/experiments/{exp['id']}").json()["runs"]
        assert all(r["status"] in ("queued", "running") for r in runs), runs
        active = [r for r in runs if r["status"] == "running" and r["progress"]["epoch"] >= 3]
        if active:
            break
        time.sleep(0.1)
    else:
        raise TimeoutError(runs)
    first = active[0]["id"]
    (second,) = [r["id"] for r in runs if r["id"] != first]

    t0 = time.monotonic()
    r = client.post(f"/v1/experiments/{exp['id']}/cancel")
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("cancelling", "cancelled")
    again = client.post(f"/v1/experiments/{exp['id']}/cancel")  # twice is harmless
    assert again.status_code == 202, again.text

    final = wait_exp(client, exp["id"], timeout=30)
    latency = time.monotonic() - t0
    runs = {r["id"]: r for r in final["runs"]}
    assert final["status"] == "cancelled", final
    assert runs[first]["status"] == "cancelled" and runs[first]["error"] is None
    assert latency < 8, f"cancel took {latency:.1f}s"
    kept = steps(client, first, "train_loss")
    assert kept and kept == list(range(1, len(kept) + 1)) and len(kept) < 400, kept

    assert client.post(f"/v1/experiments/{exp['id']}/cancel").status_code == 202  # and after it ended
    # the queued run's message is still delivered: wait until the worker has taken it and let it go
    deadline = time.monotonic() + 60
    while f"run {second} not executed here" not in (home / "serve.log").read_text():
        assert time.monotonic() < deadline, "the worker never took the cancelled run's message"
        time.sleep(0.1)
    never = client.get(f"/v1/runs/{second}").json()
    assert never["status"] == "cancelled" and never["started_at"] is None and never["attempts"] == 0, never
    assert client.get(f"/v1/runs/{second}/metrics").json()["keys"] == []
    print(f"\ncancel -> cancelled in {latency:.2f}s after {len(kept)} epochs")


def test_cancelling_one_run_leaves_the_experiment_running_and_it_succeeds_with_its_other_runs(client):
    # one long run (cancelled while it trains) and two short ones that train to the end
    spec = make_spec(name="cancel-one", model={"family": "telescope_mlp", "depth": 8, "width": 32},
                     data={"name": "sine", "n_train": 512, "n_val": 64},
                     train={"optimizer": "adam", "lr": 0.001, "epochs": 400, "batch_size": 32},
                     probes=[], sweep={"train.epochs": [400, 3, 3]})
    exp = post(client, spec)
    long_run = next(r["id"] for r in exp["runs"] if r["params"]["train.epochs"] == 400)
    deadline = time.monotonic() + 120
    while True:
        run = client.get(f"/v1/runs/{long_run}").json()
        if run["status"] == "running" and run["progress"]["epoch"] >= 2:
            break
        assert run["status"] in ("queued", "running") and time.monotonic() < deadline, run
        time.sleep(0.1)
    r = client.post(f"/v1/runs/{long_run}/cancel")
    assert r.status_code == 202 and r.json()["status"] in ("cancelling", "cancelled"), r.text
    now = client.get(f"/v1/experiments/{exp['id']}").json()
    assert now["status"] == "running", now  # the other runs go on

    final = wait_exp(client, exp["id"])
    runs = {r["id"]: r for r in final["runs"]}
    assert runs[long_run]["status"] == "cancelled" and runs[long_run]["progress"]["eta_seconds"] is None
    assert [r["status"] for i, r in runs.items() if i != long_run] == ["succeeded", "succeeded"]
    assert final["status"] == "succeeded", final
    assert final["run_counts"]["succeeded"] == 2 and final["run_counts"]["cancelled"] == 1
