"""Submitting, listing, getting and cancelling experiments over HTTP (SQLite and Postgres)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import event, func, select

from persistence.db import make_engine
from persistence.models import Experiment, Run
from tests.factories import make_spec, queued_messages


def count_rows(settings, table) -> int:
    engine = make_engine(str(settings.database_url))
    try:
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def test_post_returns_201_location_and_queues_one_message_per_run(client, settings):
    spec = make_spec(seeds=[0, 1], sweep={"model.depth": [2, 3]})
    r = client.post("/v1/experiments", json=spec)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/experiments/{body['id']}"
    assert body["status"] == "queued"
    assert body["spec"]["name"] == spec["name"]
    assert {(run["seed"], run["params"]["model.depth"]) for run in body["runs"]} == {(0, 2), (1, 2), (0, 3), (1, 3)}
    for run in body["runs"]:
        assert run["status"] == "queued"
        assert run["progress"] == {"epoch": 0, "epochs": 3, "fraction": 0.0, "eta_seconds": None}
    assert len(queued_messages(settings)) == 4
    got = client.get(f"/v1/experiments/{body['id']}").json()
    assert got["id"] == body["id"] and len(got["runs"]) == 4
    assert got["created_at"].endswith("Z")


def test_unknown_experiment_is_404(client):
    r = client.get("/v1/experiments/does-not-exist")
    assert r.status_code == 404
    assert "does-not-exist" in r.json()["detail"]


def _bad_specs():
    big = make_spec(description="x" * 1_100_000)
    return [
        ("empty body", b"", "body"),
        ("not json", b"{model: telescope", "body"),
        ("json array", b"[1, 2]", "body"),
        ("missing model", json.dumps({k: v for k, v in make_spec().items() if k != "model"}).encode(), "model"),
        ("unknown family", json.dumps(make_spec(model={"family": "transformer"})).encode(), "model"),
        ("unknown top-level key", json.dumps(make_spec(colour="blue")).encode(), "colour"),
        ("unknown model key", json.dumps(make_spec(model={"dropout_rate": 0.1})).encode(), "model.dropout_rate"),
        ("depth 0", json.dumps(make_spec(model={"depth": 0})).encode(), "model.depth"),
        ("width as string", json.dumps(make_spec(model={"width": "wide"})).encode(), "model.width"),
        ("negative lr", json.dumps(make_spec(train={"lr": -0.1})).encode(), "train.lr"),
        ("zero lr", json.dumps(make_spec(train={"lr": 0})).encode(), "train.lr"),
        ("epochs huge", json.dumps(make_spec(train={"epochs": 10**9})).encode(), "train.epochs"),
        ("unknown optimizer", json.dumps(make_spec(train={"optimizer": "lbfgs"})).encode(), "train.optimizer"),
        ("unknown data", json.dumps(make_spec(data={"name": "imagenet"})).encode(), "data"),
        ("x_min above x_max", json.dumps(make_spec(data={"x_min": 3, "x_max": 1})).encode(), "data"),
        ("unknown probe", json.dumps(make_spec(probes=[{"name": "saliency"}])).encode(), "probes[0]"),
        ("duplicate seeds", json.dumps(make_spec(seeds=[1, 1])).encode(), "seeds"),
        ("bad sweep path", json.dumps(make_spec(sweep={"depth": [1, 2]})).encode(), "sweep"),
        ("bad sweep value", json.dumps(make_spec(sweep={"model.depth": [2, 0]})).encode(), "sweep.model.depth"),
        ("cnn on sine", json.dumps({**make_spec(), "model": {"family": "resnet_cnn", "depth": 8}}).encode(),
         "resnet_cnn"),
        ("name too long", json.dumps(make_spec(name="n" * 201)).encode(), "name"),
        ("over the resource limit", json.dumps(make_spec(model={"width": 1_000_000, "depth": 50})).encode(), "model"),
        ("1 MB body", json.dumps(big).encode(), None),
    ]


@pytest.mark.parametrize("label,body,field", _bad_specs(), ids=[b[0] for b in _bad_specs()])
def test_bad_spec_is_4xx_naming_the_field_and_nothing_is_stored_or_queued(client, settings, label, body, field):
    r = client.post("/v1/experiments", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (label, r.status_code, r.text)
    if label == "1 MB body":
        assert r.status_code == 413
    else:
        assert r.status_code == 422
        text = r.text
        assert field in text, (label, text)
        detail = r.json()["detail"]
        assert detail and all("field" in d and "message" in d for d in detail)
    assert count_rows(settings, Experiment) == 0
    assert count_rows(settings, Run) == 0
    assert queued_messages(settings) == []


def test_list_pages_with_a_cursor_and_filters_by_status(client):
    ids = [client.post("/v1/experiments", json=make_spec(name=f"e{i}")).json()["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/experiments", params=params).json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert client.get("/v1/experiments", params={"status": "succeeded"}).json()["items"] == []
    assert len(client.get("/v1/experiments", params={"status": "queued"}).json()["items"]) == 5
    assert client.get("/v1/experiments", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/experiments", params={"cursor": "!!!"}).status_code == 422


def test_cancel_queued_experiment_cancels_every_run_and_twice_is_harmless(client):
    exp = client.post("/v1/experiments", json=make_spec(seeds=[0, 1])).json()
    r = client.post(f"/v1/experiments/{exp['id']}/cancel")
    assert r.status_code == 202
    assert r.json()["status"] == "cancelled"
    assert {run["status"] for run in r.json()["runs"]} == {"cancelled"}
    again = client.post(f"/v1/experiments/{exp['id']}/cancel")
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


def test_cancel_one_run_leaves_its_siblings_and_a_finished_run_is_409(client, settings):
    from sqlalchemy import update

    from persistence.db import make_sessionmaker, session_scope

    exp = client.post("/v1/experiments", json=make_spec(seeds=[0, 1, 2])).json()
    first, second, third = (r["id"] for r in exp["runs"])
    r = client.post(f"/v1/runs/{first}/cancel")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled" and r.json()["finished_at"] is not None
    assert client.post(f"/v1/runs/{first}/cancel").status_code == 202  # twice is harmless
    now = client.get(f"/v1/experiments/{exp['id']}").json()
    assert [x["status"] for x in now["runs"]] == ["cancelled", "queued", "queued"]
    assert now["status"] == "running"  # in progress: one run ended, the others will still run
    assert _events(client, first) == [{"status": "cancelled"}]

    engine = make_engine(str(settings.database_url))  # a worker finished one, another is running
    with session_scope(make_sessionmaker(engine)) as s:
        s.execute(update(Run).where(Run.id == second).values(status="succeeded"))
        s.execute(update(Run).where(Run.id == third).values(status="running"))
    engine.dispose()
    done = client.post(f"/v1/runs/{second}/cancel")
    assert done.status_code == 409 and "already succeeded" in done.json()["detail"]
    running = client.post(f"/v1/runs/{third}/cancel")
    assert running.status_code == 202 and running.json()["status"] == "cancelling"
    # single runs were cancelled, not the experiment: it is still running (its status follows its runs)
    assert client.get(f"/v1/experiments/{exp['id']}").json()["status"] == "running"
    assert client.post("/v1/runs/nope/cancel").status_code == 404


def _events(client, run_id: str) -> list[dict]:
    with client.stream("GET", f"/v1/runs/{run_id}/events") as r:  # ends at a finished status
        body = "".join(r.iter_text())
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


def test_idempotency_key_same_body_same_experiment_other_body_409(client, settings):
    spec = make_spec()
    h = {"Idempotency-Key": "abc-123"}
    first = client.post("/v1/experiments", json=spec, headers=h)
    second = client.post("/v1/experiments", json=spec, headers=h)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    other = client.post("/v1/experiments", json=make_spec(name="other"), headers=h)
    assert other.status_code == 409
    assert count_rows(settings, Experiment) == 1
    assert len(queued_messages(settings)) == 1


def test_schema_endpoint_serves_the_spec_json_schema(client):
    schema = client.get("/v1/schema/experiment").json()
    assert schema["additionalProperties"] is False
    assert {"name", "model", "data"} <= set(schema["required"])


def test_healthz_reaches_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


def test_a_submission_within_the_limit_writes_its_two_rows_and_reads_nothing(client):
    """The submission limit is counted by the experiment's INSERT: a submission that fits runs its
    two INSERTs (the experiment, its runs) and no query of its own on either table."""
    engine = client.app.state.skipcore.engine
    seen: list[str] = []

    def after(conn, cursor, statement, params, context, executemany):
        if " experiments" in statement or " runs" in statement:
            seen.append(" ".join(statement.split()[:3]).upper())

    event.listen(engine, "after_cursor_execute", after)
    try:
        for key in ({"Idempotency-Key": uuid.uuid4().hex}, {}):
            r = client.post("/v1/experiments", json=make_spec(), headers=key)
            assert r.status_code == 201, r.text
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert seen == ["INSERT INTO EXPERIMENTS", "INSERT INTO RUNS"] * 2, seen


def test_a_submission_takes_one_trip_to_the_thread_pool(client, monkeypatch):
    """Dependencies that do no I/O (the app's state, the caller without a key, the scope check, a
    session that its route committed) run on the event loop: a submission's only trip to the
    thread pool is its route, where the database is used. A GET of the experiment ends the read
    transaction its lookup opened off the loop too."""
    import anyio.to_thread

    trips: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        trips.append(getattr(getattr(func, "func", func), "__name__", "?"))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    r = client.post("/v1/experiments", json=make_spec())
    assert r.status_code == 201, r.text
    assert len(trips) == 1, trips  # the route
    trips.clear()
    assert client.get(f"/v1/experiments/{r.json()['id']}").status_code == 200
    assert trips[-1] == "end_session", trips
