"""POST /v1/experiments declares its body: FastAPI validates it as the spec (the route reads no JSON
by hand) and the OpenAPI document describes it from that declaration; errors about the body as a
whole stay plain 422s in the one shape (`field`, `message`, `loc`, `msg`, `type`), and a JSON body
is read whatever its Content-Type says."""

from __future__ import annotations

import json

import pytest

from skipcore.spec import ExperimentSpec
from tests.factories import make_spec


def test_the_submit_route_declares_its_body_as_the_experiment_spec(client):
    from api.routes import experiments

    route = next(r for r in experiments.router.routes if r.path == "/v1/experiments" and "POST" in r.methods)
    assert route.body_field is not None and route.body_field.field_info.annotation is ExperimentSpec
    op = client.get("/openapi.json").json()["paths"]["/v1/experiments"]["post"]
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ExperimentSpec"
    ExperimentSpec.model_validate(body["content"]["application/json"]["example"])


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("content,headers,field,kind,words", [
    (b"", {"content-type": "application/json"}, "body", "missing", "the body is empty"),
    (b"{nope", {"content-type": "application/json"}, "body", "json_invalid", "not valid JSON"),
    (b"\xff\xfe{}", {"content-type": "application/json"}, "body", "json_invalid", "not UTF-8"),
    (b"[1, 2]", {"content-type": "application/json"}, "body", "object_type", "must be a JSON object, got list"),
    (b'"spec"', {}, "body", "object_type", "must be a JSON object, got str"),
    (json.dumps(make_spec(model={"depht": 5})).encode(), {"content-type": "text/plain"}, "model.depht",
     "extra_forbidden", "unknown key 'depht'"),
])
def test_errors_about_the_whole_body_are_plain_422s_in_the_one_shape(client, content, headers, field, kind, words):
    r = client.post("/v1/experiments", content=content, headers=headers)
    assert r.status_code == 422, r.text
    (d,) = r.json()["detail"]
    assert d["field"] == field and d["type"] == kind and words in d["message"], d
    assert d["msg"] == d["message"] and d["loc"][0] == "body" and r.json()["message"], d
    assert client.get("/v1/experiments").json()["items"] == []


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"}, {"content-type": "application/json"}])
def test_a_json_spec_is_accepted_whatever_its_content_type_and_replays_by_idempotency_key(client, headers):
    body = json.dumps(make_spec()).encode()
    first = client.post("/v1/experiments", content=body, headers={**headers, "Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    again = client.post("/v1/experiments", content=body, headers={**headers, "Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = client.post("/v1/experiments", json=make_spec(seeds=[7]), headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409, other.text
