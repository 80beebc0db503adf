"""identity_ratio and block_lesion are recorded at initialisation and after training, through the
API and a real worker process, on both worker paths: a seed ensemble (resnet_mlp, two seeds
trained together) and a single run (resnet_cnn). "at_init" equals the probe on the model rebuilt
from the run's seed, i.e. the weights training started from."""

from __future__ import annotations

import httpx
import pytest

from skipcore.data import load_dataset
from skipcore.probes import init_model, run_probe
from skipcore.spec import ExperimentSpec
from tests import service

pytestmark = pytest.mark.slow
FINISHED = {"succeeded", "failed", "cancelled"}
PROBES = [{"name": "identity_ratio", "n_samples": 32}, {"name": "block_lesion", "random_k": [1], "n_random": 1}]
CASES = {
    "ensemble": {"name": "at-init-ensemble", "model": {"family": "resnet_mlp", "depth": 3, "width": 16},
                 "data": {"name": "sine", "n_train": 128, "n_val": 32},
                 "train": {"epochs": 5, "batch_size": 32, "lr": 0.01}, "probes": PROBES, "seeds": [0, 1]},
    "single": {"name": "at-init-single", "model": {"family": "resnet_cnn", "depth": 8, "widths": [4, 8, 8]},
               "data": {"name": "fake_images", "n_train": 64, "n_val": 32, "image_size": 8, "n_classes": 4},
               "train": {"epochs": 3, "batch_size": 16, "optimizer": "sgd", "lr": 0.1}, "probes": PROBES},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("atinit")
    # SKIPCORE_ENSEMBLE_ON_CPU: where CPU seed ensembles are off by default, this switches them on
    with service.embedded(home, device="cpu", ensemble_on_cpu="true") as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield client, home


def test_block_probes_store_trained_values_and_values_at_init_on_both_worker_paths(api):
    client, home = api
    ids = {}
    for case, spec in CASES.items():
        r = client.post("/v1/experiments", json=spec)
        assert r.status_code == 201, r.text
        ids[case] = r.json()["id"]
    for case, exp_id in ids.items():
        exp = service.wait_for(client, f"/v1/experiments/{exp_id}", FINISHED, timeout=300)
        assert exp["status"] == "succeeded", exp
        spec = ExperimentSpec.model_validate(CASES[case])
        for run in exp["runs"]:
            stored = {p["name"]: p for p in client.get(f"/v1/runs/{run['id']}/probes").json()["items"]}
            data = load_dataset(spec.data, seed=run["seed"], root=home / "data")
            start = init_model(spec.model, data.info, run["seed"])  # the weights the run started from
            ratio, lesion = stored["identity_ratio"]["result"], stored["block_lesion"]["result"]
            assert stored["identity_ratio"]["status"] == stored["block_lesion"]["status"] == "succeeded"
            expect_ratio = run_probe(spec.probes[0], start, data)
            expect_lesion = run_probe(spec.probes[1], start, data)
            assert ratio["at_init"]["ratio"] == pytest.approx(expect_ratio["ratio"], rel=1e-5), case
            assert lesion["at_init"]["delta_loss"] == pytest.approx(expect_lesion["delta_loss"], rel=1e-4, abs=1e-6)
            assert ratio["ratio"] != pytest.approx(ratio["at_init"]["ratio"], rel=1e-3)  # trained differs
            assert run["summary"]["identity_ratio.mean_at_init"] == pytest.approx(
                sum(expect_ratio["ratio"]) / len(expect_ratio["ratio"]), rel=1e-5)
            assert run["summary"]["identity_ratio.mean"] == pytest.approx(sum(ratio["ratio"]) / len(ratio["ratio"]))
    log = (home / "serve.log").read_text()
    assert "training 2 seeds as one ensemble" in log, log[-3000:]  # the ensemble path was taken
