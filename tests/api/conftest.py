from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from persistence.schema import upgrade
from tests.factories import make_settings


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, home):
    url = f"sqlite:///{home / 'skipcore.db'}" if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url")
    s = make_settings(home, url)
    upgrade(str(s.database_url))
    return s


@pytest.fixture
def client(settings):
    from api.main import create_app

    with TestClient(create_app(settings, sweeper=False)) as c:
        yield c
