"""Spec rules that need more than one field, answered over HTTP: 422 naming the problem, nothing stored."""

from __future__ import annotations

from persistence.models import Experiment, Run
from tests.api.test_experiments import count_rows
from tests.factories import make_spec, queued_messages


def test_zero_init_residual_with_shortcut_none_is_422_and_nothing_is_stored(client, settings):
    spec = {**make_spec(probes=[]), "data": {"name": "fake_images", "n_train": 16, "n_val": 8, "image_size": 8},
            "model": {"family": "resnet_cnn", "depth": 8, "shortcut": "none", "zero_init_residual": True}}
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["field"].startswith("model"), problem
    assert "zero_init_residual needs shortcut 'identity'" in problem["message"]
    assert "never train" in problem["message"]
    assert count_rows(settings, Experiment) == 0 and count_rows(settings, Run) == 0
    assert queued_messages(settings) == []
    spec["model"]["shortcut"] = "identity"
    assert client.post("/v1/experiments", json=spec).status_code == 201


def test_val_every_above_one_with_skip_star_is_422_and_nothing_is_stored(client, settings):
    spec = make_spec(probes=[])
    spec["model"] = {"family": "dense_skip_mlp", "widths": [16, 16]}
    spec["train"] = {**spec["train"], "val_every": 4, "skip_star": {"rule": "patience", "patience": 3}}
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["field"].startswith("train"), problem
    assert "val_every (4) must be 1 or 'auto' with skip_star" in problem["message"]
    assert count_rows(settings, Experiment) == 0 and count_rows(settings, Run) == 0
    assert queued_messages(settings) == []
    spec["train"]["val_every"] = "auto"
    assert client.post("/v1/experiments", json=spec).status_code == 201
