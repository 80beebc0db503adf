"""Shared fixtures: real services only. Postgres and Redis fixtures FAIL (never skip) when down.

- `pg_url`: a throwaway database on the machine's Postgres (127.0.0.1:5432, user postgres).
- `redis_url`: a Redis database index on 127.0.0.1:6379, flushed before use.
- `s3_server`: moto in server mode on 127.0.0.1 (real HTTP, real boto3).
- `sqlite_url`, `home`: per-test SQLite file and SKIPCORE_HOME.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicekit import free_port  # noqa: F401 (the tests' import of it)

PG_ADMIN = os.environ.get("SKIPCORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("SKIPCORE_TEST_REDIS", "redis://127.0.0.1:6379")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def pg_admin():
    import psycopg

    try:
        conn = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Postgres is not reachable at {PG_ADMIN} ({exc}). Start it: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            pytrace=False,
        )
    yield conn
    conn.close()


def _create_db(admin, name: str) -> str:
    admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_db(admin, name: str) -> None:
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _throwaway_db(admin, prefix: str):
    """A database created for the fixture and dropped after it (its URL)."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    yield _create_db(admin, name)
    _drop_db(admin, name)


@pytest.fixture(scope="session")
def pg_url(pg_admin):
    yield from _throwaway_db(pg_admin, "skipcore_test_")


@pytest.fixture
def fresh_pg_url(pg_admin):
    """A throwaway Postgres database of this test alone."""
    yield from _throwaway_db(pg_admin, "skipcore_t_")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 't.db'}"


@pytest.fixture(scope="session")
def redis_url():
    import redis

    db = 1 + (os.getpid() % 15)
    url = f"{REDIS}/{db}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Redis is not reachable at {REDIS} ({exc}). Start it: "
            'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
            pytrace=False,
        )
    client.flushdb()
    yield url
    client.flushdb()


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    import boto3

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        bucket = "skipcore-test"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield S3Server(endpoint, bucket)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h
