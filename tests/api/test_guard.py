"""The resource guard: a spec whose estimated parameters or activation memory are over the limits
is refused with 422 and the estimate, before anything is stored or queued (SQLite, in-process)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.guard import estimate
from persistence.models import Experiment, Run
from persistence.schema import upgrade
from skipcore.spec import ExperimentSpec
from tests.api.test_experiments import count_rows
from tests.factories import make_settings, make_spec, queued_messages


def _client(home, **limits):
    from api.main import create_app

    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}", **limits)
    upgrade(str(settings.database_url))
    return settings, TestClient(create_app(settings, sweeper=False))


def _refused(settings, r, field: str) -> dict:
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["type"] == "resource_limit" and problem["field"] == field, problem
    assert count_rows(settings, Experiment) == 0 and count_rows(settings, Run) == 0
    assert queued_messages(settings) == []
    return problem


def test_width_a_million_by_depth_50_is_refused_with_the_estimate(home):
    settings, client = _client(home)
    with client:
        r = client.post("/v1/experiments", json=make_spec(model={"width": 1_000_000, "depth": 50}))
    problem = _refused(settings, r, "model")
    # 50 hidden layers of 10^6 x 10^6 weights: 5e13 parameters, whatever the small terms
    assert 5.0e13 <= problem["estimate"]["parameters"] < 5.1e13, problem
    assert "SKIPCORE_MAX_PARAMETERS" in problem["message"] and "50,000,1" in problem["message"]


def test_activation_memory_over_the_limit_names_the_batch(home):
    spec = make_spec(model={"width": 256, "depth": 20}, train={"batch_size": 64})
    need = estimate(ExperimentSpec.model_validate(spec))["activation_bytes"]
    # by hand: 64 samples x 20 hidden layers x 256 units x 4 bytes = 1,310,720 bytes of activations,
    # each kept at least once for the backward and at most ~4 times (pre-activation, gradients)
    assert 1_310_720 <= need <= 4 * 1_310_720, need
    settings, client = _client(home, max_activation_bytes=need - 1)
    with client:
        r = client.post("/v1/experiments", json=spec)
        problem = _refused(settings, r, "train.batch_size")
        assert problem["estimate"]["activation_bytes"] == need
        ok = client.post("/v1/experiments", json=make_spec(model={"width": 256, "depth": 20},
                                                           train={"batch_size": 32}))
        assert ok.status_code == 201, ok.text  # half the batch fits


@pytest.mark.parametrize("widths,status", [([8, 16], 201), ([8, 2048], 422)])
def test_the_biggest_sweep_point_decides(home, widths, status):
    settings, client = _client(home, max_parameters=1_000_000)
    with client:
        r = client.post("/v1/experiments", json=make_spec(model={"depth": 4}, sweep={"model.width": widths}))
    if status == 422:
        problem = _refused(settings, r, "model")
        assert problem["estimate"]["parameters"] >= 4 * 2048 * 2048
    else:
        assert r.status_code == 201, r.text
        assert len(r.json()["runs"]) == 2


def _with(**sections):
    """make_spec with whole sections replaced (not merged)."""
    spec = make_spec(probes=[])
    spec.update(sections)
    return spec


@pytest.mark.parametrize("data,model", [
    ({"name": "digits"}, {"family": "dense_skip_mlp", "widths": [128, 256]}),
    ({"name": "digits", "val_size": 300, "test_size": 0.25, "split_seed": 3}, {"family": "vanilla_cnn"}),
    ({"name": "diabetes"}, {"family": "skip_layer_mlp", "depth": 1, "width": 16}),
])
def test_post_with_the_scikit_learn_data_sets_is_201(home, data, model):
    settings, client = _client(home)
    with client:
        r = client.post("/v1/experiments", json=_with(model=model, data=data))
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["data"]["name"] == data["name"]


def test_every_data_set_has_an_input_shape_for_the_guard():
    from api.guard import input_shape
    from skipcore.spec import DATASET_NAMES

    model = {"family": "plain_mlp", "depth": 2, "width": 8}
    for name in DATASET_NAMES:
        if name == "synthetic_segmentation":
            spec = _with(model={"family": "unet", "depth": 1, "base_channels": 4}, data={"name": name})
        else:
            spec = _with(model=model, data={"name": name})
        shape = input_shape(ExperimentSpec.model_validate(spec))
        assert shape and all(isinstance(n, int) and n > 0 for n in shape), name


def test_a_split_that_leaves_no_training_data_is_422_naming_the_field(home):
    settings, client = _client(home)
    with client:
        r = client.post("/v1/experiments", json=_with(data={"name": "diabetes", "val_size": 0.6, "test_size": 0.4}))
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["field"] == "data" and "leave no training set" in problem["message"], problem
    assert count_rows(settings, Experiment) == 0


@pytest.mark.parametrize("model,data,batch,weights,activations", [
    # plain_mlp on sine (1 -> 1): Linear(1, 64) 128 + 2 x Linear(64, 64) 4,160 + Linear(64, 1) 65
    ({"family": "plain_mlp", "depth": 3, "width": 64}, {"name": "sine"}, 32, 8_513, 32 * 3 * 64 * 4),
    # Linear(1, 128) 256 + 3 x Linear(128, 128) 16,512 + Linear(128, 1) 129
    ({"family": "plain_mlp", "depth": 4, "width": 128}, {"name": "sine"}, 16, 49_921, 16 * 4 * 128 * 4),
])
def test_estimates_bound_the_hand_counted_size_of_two_small_mlps(model, data, batch, weights, activations):
    """Never below the real size (a refusal must be safe to trust), never more than 3x above it for
    these dense MLPs (a fitting spec is not refused). `weights`: parameters counted by hand from the
    layer shapes; `activations`: bytes of one float32 per hidden unit per sample."""
    spec = ExperimentSpec.model_validate(make_spec(model=model, data=data, train={"batch_size": batch}, probes=[]))
    est = estimate(spec)
    assert weights <= est["parameters"] <= 3 * weights, est
    assert activations <= est["activation_bytes"] <= 4 * activations, est
