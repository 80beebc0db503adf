"""Errors that teach, over HTTP: a misspelt spec key gets "did you mean ...", an unknown family,
data set or probe is named with the valid ones (read from the spec's models), every 422 carries
FastAPI's `loc` / `msg` / `type` beside `field` / `message` as the OpenAPI document says, unknown
metric, probe and layer-statistic names are 404s listing the names that exist, and `downsampled`
is true only when points were dropped."""

from __future__ import annotations

import time

import jsonschema
import pytest

from persistence.db import session_scope
from persistence.models import ProbeResult
from persistence.repo import metrics as metrics_repo
from skipcore.spec import DATASET_NAMES, FAMILIES, PROBE_NAMES
from tests.factories import make_spec


def post(client, spec: dict) -> dict:
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 422, r.text
    return r.json()


def one(body: dict, field: str) -> str:
    found = [d["message"] for d in body["detail"] if d["field"] == field]
    assert found, body
    return found[0]


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("spec,field,close", [
    (make_spec(model={"depht": 5}), "model.depht", "depth"),
    (make_spec(seedz=[1]), "seedz", "seeds"),
    (make_spec(train={"optimiser": "adam"}), "train.optimiser", "optimizer"),
    (make_spec(data={"n_trian": 10}), "data.n_trian", "n_train"),
    (make_spec(probes=[{"name": "weight_magnitude", "evrey": 2}]), "probes[0].evrey", "every"),
], ids=["model", "top-level", "train", "data", "probe"])
def test_a_misspelt_spec_key_says_did_you_mean_the_close_one(client, spec, field, close):
    message = one(post(client, spec), field)
    assert f"did you mean {close!r}?" in message, message


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_an_unknown_key_without_a_close_match_lists_the_keys_the_section_takes(client):
    message = one(post(client, make_spec(colour="blue")), "colour")
    assert "did you mean" not in message and "takes: name, description, model, data" in message, message


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("spec,field,typo,close,names", [
    (make_spec(model={"family": "telescope_mpl"}), "model.family", "telescope_mpl", "telescope_mlp", FAMILIES),
    (make_spec(data={"name": "sin"}), "data.name", "sin", "sine", DATASET_NAMES),
    (make_spec(probes=[{"name": "weight_magnitud"}]), "probes[0].name", "weight_magnitud", "weight_magnitude",
     PROBE_NAMES),
], ids=["family", "data set", "probe"])
def test_an_unknown_family_data_set_or_probe_is_named_with_the_valid_names(client, spec, field, typo, close, names):
    body = post(client, spec)
    message = one(body, field)
    assert "Input tag" not in str(body) and "expected tags" not in str(body), body
    assert repr(typo) in message and f"did you mean {close!r}?" in message, message
    assert all(name in message for name in names), message


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_missing_family_asks_for_one_of_the_families(client):
    spec = make_spec()
    spec["model"] = {"depth": 3}
    message = one(post(client, spec), "model.family")
    assert "missing" in message and all(f in message for f in FAMILIES), message


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("spec,field,typo,close,choices", [
    (make_spec(model={"activation": "rleu"}), "model.activation", "rleu", "relu", "relu, tanh, sigmoid, gelu"),
    (make_spec(train={"optimizer": "adma"}), "train.optimizer", "adma", "adam", "adam, adamw, sgd"),
], ids=["model", "train"])
def test_a_value_outside_a_choice_names_the_choices_of_the_spec(client, spec, field, typo, close, choices):
    message = one(post(client, spec), field)
    assert message == f"{typo!r} is not one of {choices}; did you mean {close!r}?", message


def _bad_requests(client) -> list[tuple[str, str, object]]:
    """(method, path template, response) of 422s from each kind of source."""
    run_id = client.post("/v1/experiments", json=make_spec()).json()["runs"][0]["id"]
    with session_scope(client.app.state.skipcore.sessions) as s:
        metrics_repo.upsert_points(s, run_id, [("loss", 1, 0.5, time.time())])
    return [
        ("post", "/v1/experiments", client.post("/v1/experiments", json=make_spec(model={"depht": 5}))),
        ("post", "/v1/experiments", client.post("/v1/experiments", content=b"{nope",
                                                 headers={"content-type": "application/json"})),
        ("get", "/v1/experiments", client.get("/v1/experiments", params={"status": "bogus"})),
        ("get", "/v1/experiments", client.get("/v1/experiments", params={"limit": 0})),
        ("get", "/v1/runs/{run_id}/metrics/{key}", client.get(f"/v1/runs/{run_id}/metrics/loss",
                                                               params={"max_points": 1})),
        ("get", "/v1/runs/{run_id}/metrics/{key}", client.get(f"/v1/runs/{run_id}/metrics/loss",
                                                               params={"cursor": "x"})),
        ("get", "/v1/compare", client.get("/v1/compare")),
        ("get", "/v1/compare", client.get("/v1/compare", params={"experiments": "a", "metric": ",".join(
            f"m{i}" for i in range(101))})),
    ]


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_every_422_carries_field_message_and_fastapis_loc_msg_type(client):
    for method, path, r in _bad_requests(client):
        assert r.status_code == 422, (path, r.text)
        body = r.json()
        assert body["message"] and body["detail"], body
        for d in body["detail"]:
            assert isinstance(d["field"], str) and d["message"], (path, d)
            assert isinstance(d["loc"], list) and d["loc"][0] in ("body", "query", "path"), (path, d)
            assert d["msg"] == d["message"] and isinstance(d["type"], str), (path, d)
    spec_error = _bad_requests(client)[0][2].json()["detail"][0]
    assert spec_error["loc"] == ["body", "model", "depht"] and spec_error["type"] == "extra_forbidden"


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_openapi_document_describes_the_422_body_that_is_sent(client):
    doc = client.get("/openapi.json").json()
    error = doc["components"]["schemas"]["FieldError"]
    assert {"field", "message", "loc", "msg", "type"} <= set(error["required"]), error
    for method, path, r in _bad_requests(client):
        answer = doc["paths"][path][method]["responses"].get("422")
        assert answer, f"{method} {path}: no 422 documented"
        schema = answer["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
        problems = [e.message for e in validator.iter_errors(r.json())]
        assert not problems, (method, path, problems)


def _run_with_results(client) -> str:
    run_id = client.post("/v1/experiments", json=make_spec()).json()["runs"][0]["id"]
    with session_scope(client.app.state.skipcore.sessions) as s:
        metrics_repo.upsert_points(s, run_id, [(k, st, 1.0 / st, time.time()) for k in ("train_loss", "val_loss")
                                               for st in range(1, 51)])
        metrics_repo.upsert_layer_stats(s, run_id, [("weight_mean_abs", 1, [0.1, 0.2]), ("grad_norm", 1, [1.0, 2.0])])
        s.add(ProbeResult(run_id=run_id, name="weight_magnitude", status="succeeded", result={"x": 1}))
    return run_id


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_unknown_metric_probe_and_layer_statistic_are_404s_naming_the_ones_that_exist(client):
    run_id = _run_with_results(client)
    metric = client.get(f"/v1/runs/{run_id}/metrics/val_los")
    assert metric.status_code == 404 and "did you mean 'val_loss'" in metric.json()["detail"], metric.text
    assert "train_loss, val_loss" in metric.json()["detail"]

    layers = client.get(f"/v1/runs/{run_id}/layers", params={"name": "weight_mean_ab"})
    assert layers.status_code == 404, layers.text
    assert "did you mean 'weight_mean_abs'" in layers.json()["detail"] and "grad_norm" in layers.json()["detail"]
    assert client.get(f"/v1/runs/{run_id}/layers", params={"name": "grad_norm"}).json()["stats"][0]["values"] == [1, 2]

    probe = client.get(f"/v1/runs/{run_id}/probes/weight_magnitud")
    assert probe.status_code == 404 and "did you mean 'weight_magnitude'" in probe.json()["detail"], probe.text
    assert "skip_ablation" in probe.json()["detail"]  # asked for in the spec, not run yet
    pending = client.get(f"/v1/runs/{run_id}/probes/skip_ablation")
    assert pending.status_code == 404 and "not found yet" in pending.json()["detail"], pending.text


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
def test_downsampled_is_true_only_when_points_were_dropped(client):
    run_id = _run_with_results(client)  # 50 points
    path = f"/v1/runs/{run_id}/metrics/train_loss"
    whole = client.get(path, params={"max_points": 50}).json()
    assert whole["downsampled"] is False and len(whole["points"]) == 50
    assert client.get(path, params={"max_points": 1000}).json()["downsampled"] is False
    cut = client.get(path, params={"max_points": 10}).json()
    assert cut["downsampled"] is True and len(cut["points"]) <= 10
    window = client.get(path, params={"max_points": 10, "step_min": 5, "step_max": 14}).json()
    assert window["downsampled"] is False and [p["step"] for p in window["points"]] == list(range(5, 15))
