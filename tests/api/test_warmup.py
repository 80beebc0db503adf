"""An API process opens what a submission needs before it serves its first request, so the first
submissions are not the slow ones: here, a few pooled database connections (the broker's warm-up
is checked in process, in test_warmup_broker.py: other clients of a shared Redis cannot be told
apart from the API's connections). Production
profile, `skipcore api` as a process of its own."""

from __future__ import annotations

import psycopg

from tests import service


def test_api_fills_its_database_pool_before_the_first_submission(home, fresh_pg_url, redis_url):
    with service.production(home, workers=0, database_url=fresh_pg_url, broker_url=redis_url,
                            sweep_interval_seconds="3600"):
        with psycopg.connect(fresh_pg_url.replace("+psycopg", ""), autocommit=True) as c:
            n = c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                          " AND pid <> pg_backend_pid()").fetchone()[0]
        assert n >= 8, f"{n} database connections of the API before any submission"
