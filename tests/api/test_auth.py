"""Nobody where they don't belong: API keys, scopes, owners, signed downloads, limits.

The auth matrix enumerates the app's routes, so a new endpoint is covered (or fails loudly until
someone says what it needs). Keys are real rows (`persistence.repo.keys.create`), one made
through the real CLI; the app runs in-process over HTTP (TestClient) on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from persistence.db import make_engine, make_sessionmaker, session_scope
from persistence.objects import make_store
from persistence.repo import artifacts as artifact_repo
from persistence.repo import events
from persistence.repo import experiments as exp_repo
from persistence.repo import keys as key_repo
from persistence.repo import metrics as metrics_repo
from persistence.models import ProbeResult, Run, utcnow
from persistence.schema import upgrade
from skipcore.spec import ExperimentSpec
from tests.factories import make_settings, make_spec

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"/healthz"}  # answers without a key
ARTIFACT = "checkpoint.pt"
ARTIFACT_BYTES = b"weights" * 100


@dataclass
class World:
    settings: object
    exp_a: str
    run_a: str
    run_q: str  # owner A's queued run (the run-cancel route)
    exp_b: str
    keys: dict[str, str]  # role -> token


def _experiment(session, owner: str, spec: dict) -> tuple[str, list[str]]:
    parsed = ExperimentSpec.model_validate(spec)
    exp = exp_repo.create(session, name=parsed.name, spec=parsed.model_dump(mode="json"), owner=owner,
                          runs=[(p.seed, p.params, p.run_spec()) for p in parsed.expand()])
    return exp.id, [r.id for r in exp.runs]


def build_world(home: Path, url: str | None = None, **extra) -> World:
    settings = make_settings(home, url or f"sqlite:///{home / 'skipcore.db'}", require_auth=True, **extra)
    upgrade(str(settings.database_url))
    engine = make_engine(str(settings.database_url))
    store = make_store(settings)
    blob = store.put(f"runs/x/{ARTIFACT}", ARTIFACT_BYTES)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            keys = {role: key_repo.create(s, owner=owner, scope=scope)[1] for role, owner, scope in [
                ("a_read", "alice", "read"), ("a_write", "alice", "write"),
                ("b_read", "bob", "read"), ("b_write", "bob", "write"), ("admin", "root", "admin")]}
            exp_a, (run_a, run_q) = _experiment(s, "alice", make_spec(seeds=[0, 1]))
            exp_b, _ = _experiment(s, "bob", make_spec(name="bobs"))
            s.flush()
            run = s.get(Run, run_a)
            run.status, run.started_at, run.finished_at, run.epoch = "succeeded", utcnow(), utcnow(), 3
            run.summary, run.layer_names = {"val_loss": 0.5}, ["l0"]
            metrics_repo.upsert_points(s, run_a, [("train_loss", i, 1.0 / i, time.time()) for i in (1, 2, 3)])
            metrics_repo.upsert_layer_stats(s, run_a, [("weight_mean_abs", 3, [0.1])])
            s.add(ProbeResult(run_id=run_a, name="weight_magnitude", status="succeeded", result={"x": 1}))
            artifact_repo.record(s, run_id=run_a, name=ARTIFACT, kind="checkpoint", size=blob.size,
                                 sha256=blob.sha256, uri=f"runs/x/{ARTIFACT}")
            events.append(s, run_a, "status", {"status": "succeeded"})
            s.flush()
            exp_repo.roll_up_id(s, exp_a)
    finally:
        engine.dispose()
    return World(settings, exp_a, run_a, run_q, exp_b, keys)


@pytest.fixture
def world(home) -> World:
    return build_world(home)


@pytest.fixture
def client(world):
    from api.main import create_app

    with TestClient(create_app(world.settings, sweeper=False)) as c:
        yield c


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def endpoints(app) -> list[tuple[str, str]]:
    """(method, path template) of every documented endpoint of the app."""
    try:
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: app.routes is flat
        routes = app.routes
    out = []
    for r in routes:
        if not getattr(r, "include_in_schema", False):
            continue  # /docs, /openapi.json, ...
        for m in sorted(getattr(r, "methods", None) or ()):
            if m != "HEAD":
                out.append((m, r.path))
    assert len(out) >= 15, out
    return out


def fill(path: str, w: World) -> tuple[str, dict]:
    """A concrete URL for a template: owner A's experiment and run, and names that exist."""
    values = {"experiment_id": w.exp_a, "run_id": w.run_q if path.endswith("/cancel") else w.run_a,
              "key": "train_loss"}
    if "/probes/" in path:
        values["name"] = "weight_magnitude"
    if "/artifacts/" in path:
        values["name"] = ARTIFACT
    url = path
    for name, value in values.items():
        url = url.replace("{%s}" % name, value).replace("{%s:path}" % name, value)
    assert "{" not in url, f"no value for a path parameter of {path}: teach fill() about it"
    query = {"experiments": w.exp_a} if path == "/v1/compare" else {}
    return url, query


def call(client, method: str, path: str, w: World, token: str | None):
    url, query = fill(path, w)
    kwargs = {"json": make_spec(name="matrix")} if (method, path) == ("POST", "/v1/experiments") else {}
    return client.request(method, url, params=query, headers=auth(token), **kwargs)


def owned(path: str) -> bool:
    """Routes that name one of owner A's resources (in the path, or /v1/compare's query)."""
    return "{experiment_id}" in path or "{run_id}" in path or path == "/v1/compare"


def test_auth_matrix_covers_every_endpoint(client, world):
    problems = []
    for method, path in endpoints(client.app):
        def expect(role: str, ok, token):
            r = call(client, method, path, world, token)
            if not ok(r.status_code):
                problems.append(f"{role:8s} {method} {path}: {r.status_code} {r.text[:120]}")
            return r

        is_get = method == "GET"
        public = path in PUBLIC
        expect("no key", (lambda c: c == 200) if public else (lambda c: c == 401), None)
        expect("a_read", (lambda c: c == 200) if is_get else (lambda c: c == 403), world.keys["a_read"])
        expect("a_write", lambda c: 200 <= c < 300, world.keys["a_write"])
        if owned(path):
            expect("b_write", lambda c: c == 404, world.keys["b_write"])
            expect("b_read", lambda c: c in (404, 403) if not is_get else c == 404, world.keys["b_read"])
        else:
            expect("b_write", lambda c: 200 <= c < 300, world.keys["b_write"])
        expect("admin", lambda c: 200 <= c < 300, world.keys["admin"])
    assert not problems, "\n".join(problems)


def test_a_bad_or_revoked_key_is_401_with_www_authenticate(client, world):
    for header in ({"Authorization": "Bearer sk_nope_nope"}, {"Authorization": "Basic abc"},
                   {"Authorization": "Bearer "}):
        r = client.get(f"/v1/experiments/{world.exp_a}", headers=header)
        assert r.status_code == 401, (header, r.text)
        assert r.headers.get("www-authenticate") == "Bearer"
        assert r.json()["detail"]


def test_lists_show_only_the_owners_experiments_and_admin_sees_all(client, world):
    ids = lambda role: {e["id"] for e in client.get("/v1/experiments", headers=auth(world.keys[role])).json()["items"]}  # noqa: E731
    assert world.exp_a in ids("a_read") and world.exp_b not in ids("a_read")
    assert world.exp_b in ids("b_read") and world.exp_a not in ids("b_read")
    assert {world.exp_a, world.exp_b} <= ids("admin")


def test_cli_key_is_stored_only_as_a_hash(client, world):
    s = world.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPCORE_")}
    env.update(SKIPCORE_HOME=str(s.home), SKIPCORE_DATABASE_URL=str(s.database_url), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--owner", "carol", "--scope", "read"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("sk_") and len(token) > 30
    secret = token.rsplit("_", 1)[-1]

    r = client.get("/v1/experiments", headers=auth(token))
    assert r.status_code == 200 and r.json()["items"] == []  # carol owns nothing
    assert client.post("/v1/experiments", json=make_spec(), headers=auth(token)).status_code == 403

    engine = make_engine(str(s.database_url))
    try:
        with engine.connect() as c:
            c.execute(text("PRAGMA wal_checkpoint(FULL)"))
            dump = "\n".join(str(row) for row in c.execute(text("SELECT * FROM api_keys")))
    finally:
        engine.dispose()
    assert "carol" in dump and token not in dump and secret not in dump
    for f in s.home.glob("skipcore.db*"):  # the file, its WAL and shared memory: nowhere in the bytes
        raw = f.read_bytes()
        assert token.encode() not in raw and secret.encode() not in raw, f


# --------------------------------------------------------------------------------- downloads


def _signed_url(client, world) -> str:
    items = client.get(f"/v1/runs/{world.run_a}/artifacts", headers=auth(world.keys["a_read"])).json()["items"]
    url = next(a["url"] for a in items if a["name"] == ARTIFACT)
    return url.replace("http://testserver", "")


def test_signed_url_downloads_without_a_key(client, world):
    r = client.get(_signed_url(client, world))
    assert r.status_code == 200 and r.content == ARTIFACT_BYTES


def test_tampered_or_expired_signature_is_403(client, world):
    url = _signed_url(client, world)
    parts = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(parts.query))
    flipped = q["sig"][:-1] + ("0" if q["sig"][-1] != "0" else "1")
    for bad in ({**q, "sig": flipped}, {**q, "expires": str(int(q["expires"]) + 1)},
                {"expires": q["expires"]}, {"sig": q["sig"]}):
        r = client.get(parts.path, params=bad)
        assert r.status_code == 403, (bad, r.status_code, r.text)
    # a valid signature for one path does not open another
    other = parts.path.replace(ARTIFACT, "other.bin")
    assert client.get(other, params=q).status_code == 403
    # expired: signed correctly, but in the past
    from api.signing import sign

    past = int(time.time()) - 5
    sig = sign(world.settings.signing_key(), parts.path, past)
    assert client.get(parts.path, params={"expires": past, "sig": sig}).status_code == 403


def test_path_traversal_never_reaches_the_filesystem(client, world):
    store_root = Path(world.settings.home) / "objects"
    secret = store_root.parent / "secret.txt"
    secret.write_text("TOP-SECRET")
    opened: list[str] = []
    watching = [True]

    def hook(event, args):  # audit hook: a real record of every file this process opens
        if watching[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    try:
        from api.signing import sign

        key = world.settings.signing_key()
        base = f"/v1/runs/{world.run_a}/artifacts/"
        names = ["..%2F..%2Fsecret.txt", "..%2f..%2f..%2fsecret.txt", "%2E%2E/%2E%2E/secret.txt",
                 "../../secret.txt", "....//....//secret.txt", "%252e%252e%252fsecret.txt",
                 "..%5C..%5Csecret.txt", "%2Fetc%2Fpasswd", "runs/x/../../../secret.txt"]
        for name in names:
            for headers, params in ((auth(world.keys["admin"]), {}), ({}, None)):
                if params is None:  # even a correctly signed traversal path (a leaked key) finds nothing
                    decoded = urllib.parse.unquote(base + name)
                    exp = int(time.time()) + 60
                    params = {"expires": exp, "sig": sign(key, decoded, exp)}
                r = client.get(base + name, headers=headers, params=params)
                assert r.status_code in (401, 403, 404), (name, r.status_code)  # 401: the client resolved ../ away
                assert b"TOP-SECRET" not in r.content
    finally:
        watching[0] = False
    assert not [p for p in opened if "secret.txt" in p or p.endswith("passwd")], opened


# ------------------------------------------------------------------------------------ limits


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_submission_limit_is_one_count_for_every_api_process(home, request, backend):
    """Two apps on one database stand for two API processes (or one restarted): the fourth
    submission in a minute is 429 on either, nothing of it is stored, a replay is not counted."""
    url = request.getfixturevalue("fresh_pg_url") if backend == "postgres" else None
    w = build_world(home, url, submissions_per_minute=3)
    from api.main import create_app

    engine = make_engine(str(w.settings.database_url))
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            carol = auth(key_repo.create(s, owner="carol", scope="write")[1])
        with TestClient(create_app(w.settings, sweeper=False)) as one, \
                TestClient(create_app(w.settings, sweeper=False)) as two:
            first = one.post("/v1/experiments", json=make_spec(name="c0"), headers={**carol, "Idempotency-Key": "k0"})
            codes = [first.status_code] + [c.post("/v1/experiments", json=make_spec(name=f"c{i}"),
                                                  headers=carol).status_code for i, c in ((1, two), (2, one))]
            assert codes == [201, 201, 201]
            for c in (one, two):
                r = c.post("/v1/experiments", json=make_spec(name="c3"), headers=carol)
                assert r.status_code == 429, r.text
                assert "3 submissions per minute" in r.json()["detail"]
                assert 50 <= int(r.headers["retry-after"]) <= 61, r.headers  # the first left ~60 s from now
            replay = two.post("/v1/experiments", json=make_spec(name="c0"), headers={**carol, "Idempotency-Key": "k0"})
            assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
            # the limit is per owner: bob still gets in
            assert two.post("/v1/experiments", json=make_spec(), headers=auth(w.keys["b_write"])).status_code == 201
        with engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM experiments WHERE owner = 'carol' ORDER BY name")).scalars()
            assert list(names) == ["c0", "c1", "c2"]
            orphans = conn.execute(text("SELECT count(*) FROM runs WHERE experiment_id NOT IN "
                                        "(SELECT id FROM experiments)")).scalar()
            assert orphans == 0
    finally:
        engine.dispose()


def test_body_over_the_limit_is_413_with_and_without_content_length(client, world):
    limit = world.settings.max_body_bytes
    big = b'{"name": "' + b"x" * (limit + 10) + b'"}'
    headers = {**auth(world.keys["a_write"]), "Content-Type": "application/json"}
    r = client.post("/v1/experiments", content=big, headers=headers)
    assert r.status_code == 413, r.status_code

    def chunks():
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    r = client.post("/v1/experiments", content=chunks(), headers=headers)
    assert r.status_code == 413, r.status_code
    assert "limit" in r.json()["detail"]
