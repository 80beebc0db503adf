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
    # 50 hidden layers: the first reads the input, then 49 of 10^6 x 10^6 weights: 4.9e13 parameters,
    # whatever the small terms
    assert 4.9e13 <= problem["estimate"]["parameters"] < 4.91e13, problem
    assert "SKIPCORE_MAX_PARAMETERS" in problem["message"]
    assert f"{problem['estimate']['parameters']:,}" in problem["message"], problem


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
        # depth 4: the first layer reads the input, then three 2048 x 2048 hidden-to-hidden matrices
        assert problem["estimate"]["parameters"] >= 3 * 2048 * 2048
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


def test_a_cnn_under_the_parameter_limit_is_accepted(home):
    """vanilla_cnn at full width has 307,946 parameters (counted from the built network in
    tests/skipcore/test_declarations.py): a 1,000,000 limit lets it through."""
    settings, client = _client(home, max_parameters=1_000_000)
    spec = _with(model={"family": "vanilla_cnn"}, data={"name": "fake_images"})
    with client:
        r = client.post("/v1/experiments", json=spec)
        assert r.status_code == 201, r.text
        assert estimate(ExperimentSpec.model_validate(spec))["parameters"] == 307_946
        # twice the width: about four times the parameters, over the limit
        r = client.post("/v1/experiments", json=_with(model={"family": "vanilla_cnn", "width_mult": 2},
                                                      data={"name": "fake_images"}))
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "resource_limit", r.text


MODEL_FOR = {"synthetic_segmentation": {"family": "unet", "depth": 2, "base_channels": 4},
             "fake_images": {"family": "resnet_cnn", "depth": 8, "widths": [4, 8, 8]},
             "digits": {"family": "densenet_cnn", "growth_rate": 4, "block_layers": [1, 1], "init_channels": 4},
             "diabetes": {"family": "highway_mlp", "depth": 2, "width": 8},
             "linear_plus_noise": {"family": "dense_skip_mlp", "widths": [8, 6]},
             "sine": {"family": "plain_mlp", "depth": 3, "width": 8}}


@pytest.mark.parametrize("name", sorted(MODEL_FOR))
def test_the_guard_counts_the_parameters_of_the_model_the_worker_builds(name):
    """The data set as the worker loads it, the model as the worker builds it: the guard's
    parameter estimate for the spec is that model's parameter count."""
    from skipcore.data import load_dataset
    from skipcore.models import build_model

    spec = ExperimentSpec.model_validate(_with(model=MODEL_FOR[name], data={"name": name}))
    data = load_dataset(spec.data, seed=0, root=".")
    model = build_model(spec.model, data.info)
    assert estimate(spec)["parameters"] == sum(p.numel() for p in model.parameters())
