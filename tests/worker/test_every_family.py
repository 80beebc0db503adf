"""Every model family and every probe, end to end through the API and a real worker process,
at tiny sizes on generated data (sine, linear_plus_noise, fake_images, synthetic_segmentation)."""

from __future__ import annotations

import httpx
import pytest

from skipcore.spec import FAMILIES, PROBE_NAMES
from tests import service

pytestmark = pytest.mark.slow

SINE = {"name": "sine", "n_train": 64, "n_val": 32}
LINEAR = {"name": "linear_plus_noise", "n_train": 64, "n_val": 32, "in_features": 2}
IMAGES = {"name": "fake_images", "n_train": 16, "n_val": 8, "image_size": 16, "n_classes": 3}
SEGMENT = {"name": "synthetic_segmentation", "n_train": 8, "n_val": 4, "image_size": 16}
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 0.01}

CASES = {
    "plain_mlp": ({"depth": 2, "width": 8}, SINE, ["depth_error", "gradient_flow", "loss_landscape"]),
    "telescope_mlp": ({"depth": 3, "width": 8}, SINE, ["weight_magnitude", "skip_ablation"]),
    "resnet_mlp": ({"depth": 2, "width": 8}, SINE, ["identity_ratio", "block_lesion"]),
    "dense_skip_mlp": ({"widths": [8, 8]}, IMAGES, ["weight_magnitude"]),
    "skip_layer_mlp": ({"depth": 1, "width": 4}, LINEAR, ["l1_linearity"]),
    "highway_mlp": ({"depth": 2, "width": 8}, SINE, ["identity_ratio", "block_lesion"]),
    "vanilla_cnn": ({"width_mult": 0.25}, IMAGES, ["weight_magnitude"]),
    "skip_cnn": ({"width_mult": 0.25}, IMAGES, ["gradient_flow"]),
    "widened_cnn": ({"width_mult": 0.25}, IMAGES, ["weight_magnitude"]),
    "resnet_cnn": ({"depth": 8, "widths": [4, 8, 8]}, IMAGES,
                   ["identity_ratio", "block_lesion", "loss_landscape"]),
    "densenet_cnn": ({"growth_rate": 4, "block_layers": [1, 1], "init_channels": 4}, IMAGES, ["weight_magnitude"]),
    "unet": ({"depth": 1, "base_channels": 4}, SEGMENT, ["weight_magnitude"]),
}
PROBE_PARAMS = {"loss_landscape": {"dims": 1, "points": 3, "n_samples": 8}, "block_lesion": {"random_k": [1], "n_random": 1},
                "skip_ablation": {"grid_points": 8}, "depth_error": {"n_points": 50}}


def test_cases_cover_every_family_and_probe():
    assert set(CASES) == set(FAMILIES)
    assert {p for _, _, probes in CASES.values() for p in probes} == set(PROBE_NAMES)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("families")
    with service.embedded(home) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_every_family_trains_and_every_probe_answers(api):
    submitted = {}
    for family, (model, data, probes) in CASES.items():
        spec = {"name": f"tiny-{family}", "model": {"family": family, **model}, "data": data, "train": TRAIN,
                "probes": [{"name": p, **PROBE_PARAMS.get(p, {})} for p in probes]}
        r = api.post("/v1/experiments", json=spec)
        assert r.status_code == 201, (family, r.text)
        submitted[family] = r.json()["id"]
    failures = []
    for family, exp_id in submitted.items():
        exp = service.wait_for(api, f"/v1/experiments/{exp_id}", {"succeeded", "failed", "cancelled"}, timeout=300)
        run = exp["runs"][0]
        if exp["status"] != "succeeded":
            failures.append((family, run["error"]))
            continue
        assert {"train_loss", "val_loss"} <= set(api.get(f"/v1/runs/{run['id']}/metrics").json()["keys"])
        probes = {p["name"]: p for p in api.get(f"/v1/runs/{run['id']}/probes").json()["items"]}
        for name in CASES[family][2]:
            if probes.get(name, {}).get("status") != "succeeded":
                failures.append((family, name, probes.get(name, {}).get("error")))
    assert not failures, failures


def test_resnet_mlp_seed_v2_block_trains_two_seeds_through_the_worker_and_its_block_probes_answer(api):
    spec = {"name": "tiny-resnet-v2-seed000", "data": SINE, "train": TRAIN, "seeds": [0, 1],
            "model": {"family": "resnet_mlp", "block": "activation_then_add", "depth": 3, "width": 8, "init": "default"},
            "probes": [{"name": "weight_magnitude"}, {"name": "identity_ratio"},
                       {"name": "block_lesion", **PROBE_PARAMS["block_lesion"]}]}
    r = api.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    exp = service.wait_for(api, f"/v1/experiments/{r.json()['id']}", {"succeeded", "failed", "cancelled"}, timeout=300)
    assert exp["status"] == "succeeded", [run["error"] for run in exp["runs"]]
    for run in exp["runs"]:
        probes = {p["name"]: p for p in api.get(f"/v1/runs/{run['id']}/probes").json()["items"]}
        assert all(probes[n]["status"] == "succeeded" for n in ("weight_magnitude", "identity_ratio", "block_lesion"))
        assert probes["weight_magnitude"]["result"]["layers"] == ["input", "layers.0.fc", "layers.1.fc", "output"]
