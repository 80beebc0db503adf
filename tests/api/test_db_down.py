"""Database down: the API answers 503 with a JSON body (never 500) while its database refuses
connections, and recovers by itself when it is back. A throwaway database is made unreachable
(ALLOW_CONNECTIONS false + its backends terminated); the shared server keeps running."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from persistence.schema import upgrade
from tests.factories import make_settings, make_spec


def _dbname(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _block(admin, name: str, allow: bool) -> None:
    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
    if not allow:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                      "AND pid <> pg_backend_pid()", (name,))


@pytest.fixture
def app_on_pg(home, fresh_pg_url, pg_admin):
    from api.main import create_app

    settings = make_settings(home, fresh_pg_url)
    upgrade(str(settings.database_url))
    name = _dbname(fresh_pg_url)
    with TestClient(create_app(settings, sweeper=False), raise_server_exceptions=False) as c:
        try:
            yield c, name
        finally:
            _block(pg_admin, name, True)


def test_api_answers_503_while_the_database_is_unreachable_and_recovers(app_on_pg, pg_admin):
    client, name = app_on_pg
    created = client.post("/v1/experiments", json=make_spec())
    assert created.status_code == 201
    exp_id = created.json()["id"]
    run_id = created.json()["runs"][0]["id"]

    _block(pg_admin, name, False)
    calls = [("GET", "/healthz"), ("GET", "/v1/experiments"), ("GET", f"/v1/experiments/{exp_id}"),
             ("GET", f"/v1/runs/{run_id}"), ("GET", f"/v1/runs/{run_id}/metrics"),
             ("POST", "/v1/experiments"), ("POST", f"/v1/experiments/{exp_id}/cancel")]
    for method, path in calls:
        kwargs = {"json": make_spec()} if path == "/v1/experiments" and method == "POST" else {}
        r = client.request(method, path, **kwargs)
        assert r.status_code == 503, (method, path, r.status_code, r.text[:300])
        body = r.json()
        assert body.get("detail") or body.get("status") == "unavailable", body

    _block(pg_admin, name, True)
    assert client.get("/healthz").status_code == 200
    r = client.get(f"/v1/experiments/{exp_id}")
    assert r.status_code == 200 and r.json()["id"] == exp_id
    assert client.post("/v1/experiments", json=make_spec()).status_code == 201
