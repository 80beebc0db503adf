"""Property-based fuzzing of every documented operation (schemathesis against the app's own
OpenAPI, in-process over ASGI, SQLite): no 5xx, and every response matches its declared schema.

Bounded: MAX_EXAMPLES cases per operation (a few hundred in all), so it runs in CI. The longer run
is `python -m bench.fuzz` (SKIPCORE_FUZZ_EXAMPLES cases per operation, default 200 there).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from persistence.schema import upgrade
from tests.factories import make_settings

MAX_EXAMPLES = int(os.environ.get("SKIPCORE_FUZZ_EXAMPLES", "15"))
_HOME = Path(tempfile.mkdtemp(prefix="skipcore-fuzz-"))


def _app():
    from api.main import create_app

    s = make_settings(_HOME, f"sqlite:///{_HOME / 'skipcore.db'}")
    upgrade(str(s.database_url))
    return create_app(s, sweeper=False)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
