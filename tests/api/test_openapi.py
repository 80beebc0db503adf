"""The OpenAPI document: every operation has a summary, a success answer with a schema (a response
model, or a stated media type) and a realistic example, and each JSON example is valid against its
response schema (so examples cannot drift from the models)."""

from __future__ import annotations

import jsonschema
import pytest

from persistence.schema import upgrade
from tests.factories import make_settings


@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    from api.main import create_app

    home = tmp_path_factory.mktemp("openapi")
    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
    upgrade(str(settings.database_url))
    return create_app(settings, sweeper=False).openapi()


def operations(doc):
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_every_operation_has_a_summary_a_schema_and_an_example(openapi):
    problems = []
    ops = operations(openapi)
    assert len(ops) >= 19
    for method, path, op in ops:
        if not op.get("summary", "").strip():
            problems.append(f"{method} {path}: no summary")
        ok = sorted((c for c in op["responses"] if c.startswith("2")), key=lambda c: c != "201")
        if not ok:
            problems.append(f"{method} {path}: no success answer")
            continue
        content = op["responses"][ok[0]].get("content", {})
        if not content:
            problems.append(f"{method} {path}: success answer has no content")
        for media, body in content.items():
            if not body.get("schema"):
                problems.append(f"{method} {path} {media}: no schema")
            if media != "application/octet-stream" and "example" not in body and "examples" not in body:
                problems.append(f"{method} {path} {media}: no example")
        if len(op["responses"]) < 2 and path != "/healthz":
            problems.append(f"{method} {path}: only one documented answer (its errors are not described)")
    assert not problems, "\n".join(problems)


def test_json_examples_match_their_response_schemas(openapi):
    checked = 0
    for method, path, op in operations(openapi):
        for code, answer in op["responses"].items():
            body = answer.get("content", {}).get("application/json", {})
            if "example" not in body or not body.get("schema"):
                continue
            schema = {**body["schema"], "components": openapi["components"]}
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(body["example"]))
            assert not errors, f"{method} {path} {code}: " + "; ".join(
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:3])
            checked += 1
    assert checked >= 16, checked


def test_the_submit_body_example_is_a_valid_spec(openapi):
    from skipcore.spec import ExperimentSpec

    body = openapi["paths"]["/v1/experiments"]["post"]["requestBody"]["content"]["application/json"]
    ExperimentSpec.model_validate(body["example"])
