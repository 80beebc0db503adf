"""The CLI forgives (real `python -m cli.main` subprocesses against a real `skipcore serve`): ids
typed as a unique prefix, an ambiguous prefix answered with its matches, `list`, `keys list` and
`keys revoke`, expected failures in one or two lines without a traceback, flags shown as flags,
one ETA format, "1 run", and a run doing its probes said to be doing so."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests import service
from tests.conftest import free_port
from tests.factories import make_spec

pytestmark = pytest.mark.slow
ETA = r"(\d+s|\d+m\d\ds|\d+h\d\dm)"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    # progress every 0.2 s: a training run is seen mid-way with an ETA, not only at its start and end
    with service.embedded(tmp_path_factory.mktemp("cli_usability"), metric_flush_seconds="0.2") as u:
        yield u


def cli(url: str, *args: str, home=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = service.service_env(home or service.ROOT, url=url)
    if home is None:
        env.pop("SKIPCORE_HOME")
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=service.ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _quiet(http: httpx.Client, **overrides) -> dict:
    """An experiment submitted and cancelled at once: an id to look up, no worker time taken."""
    exp = http.post("/v1/experiments", json=make_spec(probes=[], **overrides)).json()
    http.post(f"/v1/experiments/{exp['id']}/cancel")
    return exp


def test_an_id_prefix_stands_for_the_id_and_an_ambiguous_one_lists_its_matches(url):
    with httpx.Client(base_url=url, timeout=30) as http:
        made = [_quiet(http, name=f"p{i}", seeds=[0, 1]) for i in range(2)]
        while len({e["id"][0] for e in made}) == len(made):  # until two ids share a first character
            made.append(_quiet(http, name=f"p{len(made)}"))
    exp = made[0]
    r = cli(url, "status", exp["id"][:8])  # as the tables print it
    assert r.returncode == 0 and exp["id"] in r.stdout, r.stdout + r.stderr
    r = cli(url, "results", exp["id"][:8], "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == exp["id"], r.stdout + r.stderr
    run = exp["runs"][1]["id"]
    with httpx.Client(base_url=url, timeout=30) as http:
        fresh = http.post("/v1/experiments", json=make_spec(name="one-run-cancel", probes=[], seeds=[0, 1])).json()
    r = cli(url, "cancel", "--run", fresh["runs"][0]["id"][:8])
    assert r.returncode == 0 and f"run {fresh['runs'][0]['id']}: cancel" in r.stdout, r.stdout + r.stderr
    cli(url, "cancel", fresh["id"][:10])

    first = next(c for c in {e["id"][0] for e in made} if sum(e["id"][0] == c for e in made) > 1)
    sharing = [e["id"] for e in made if e["id"][0] == first]
    r = cli(url, "status", first)
    assert r.returncode == 1 and "ambiguous" in r.stderr and all(i in r.stderr for i in sharing[:5]), r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli(url, "status", "zz-no-such-id")
    assert r.returncode == 1 and "not found" in r.stderr, r.stderr
    r = cli(url, "cancel", "--run", run[:8])  # a run of an experiment found among the listed ones
    assert r.returncode == 0 and f"run {run}: cancelled" in r.stdout, r.stdout + r.stderr


def test_list_shows_experiments_newest_first_and_filters_by_status(url):
    with httpx.Client(base_url=url, timeout=30) as http:
        older = _quiet(http, name="list-older")
        newer = _quiet(http, name="list-newer")
    r = cli(url, "list")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.index(newer["id"][:8]) < r.stdout.index(older["id"][:8]), r.stdout
    assert "list-newer" in r.stdout and "1 run" in r.stdout and "1 runs" not in r.stdout, r.stdout
    r = cli(url, "list", "--status", "succeeded")
    assert r.returncode == 0 and older["id"][:8] not in r.stdout, r.stdout
    r = cli(url, "list", "--status", "done")
    assert r.returncode == 2 and "--status must be one of" in r.stderr, r.stderr


def test_keys_list_and_revoke_and_a_revoked_token_is_refused(tmp_path):
    home = tmp_path / "auth"
    home.mkdir()
    with service.embedded(home, require_auth="true") as u:
        r = cli(u, "keys", "create", "--owner", "carol", "--scope", "read", home=home)
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(u + "/v1/experiments", headers=auth).status_code == 200
        r = cli(u, "keys", "list", home=home)
        assert r.returncode == 0 and "carol" in r.stdout and token.split("_")[1] in r.stdout, r.stdout + r.stderr
        key_id = re.search(r"\b([0-9a-f]{32})\b", r.stdout).group(1)
        r = cli(u, "keys", "revoke", key_id[:8], home=home)
        assert r.returncode == 0 and f"key {key_id}" in r.stdout and "revoked" in r.stdout, r.stdout + r.stderr
        assert httpx.get(u + "/v1/experiments", headers=auth).status_code == 401
        r = cli(u, "keys", "revoke", key_id, home=home)
        assert r.returncode == 1 and "already revoked" in r.stderr, r.stderr


def _short_failure(r: subprocess.CompletedProcess, code: int, *words: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and "Traceback" not in r.stderr and 1 <= len(lines) <= 2, r.stdout + r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def test_expected_failures_are_two_lines_at_most_and_never_a_traceback(url, tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    for args in (("status", "abc"), ("list",), ("watch", "abc"), ("cancel", "abc")):
        _short_failure(cli(nobody, *args), 1, nobody, "skipcore serve")
    _short_failure(cli(url, "results", "zz-no-such-id"), 1, "not found")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(make_spec(model={"depth": 0})))
    _short_failure(cli(url, "submit", str(bad)), 2, "model.depth")

    empty = tmp_path / "empty"  # a database whose schema is behind the code (here: none at all)
    empty.mkdir()
    for args in (("api", "--port", str(free_port())), ("keys", "list")):
        _short_failure(cli(url, *args, home=empty, timeout=60), 2, "skipcore db upgrade")


def test_flags_show_no_value_in_help(url):
    for command, flag in (("submit", "--watch"), ("cancel", "--run"), ("results", "--json")):
        r = cli(url, command, "--help")
        (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith(f"│ {flag} ")]
        assert "<bool>" not in line and "BOOLEAN" not in line, line


def test_status_and_list_write_eta_one_way_and_a_run_past_its_epochs_shows_probes(url):
    slow_probe = [{"name": "loss_landscape", "dims": 2, "points": 101, "n_samples": 100_000}]
    spec = make_spec(name="probing", probes=slow_probe, data={"n_train": 2048},
                     train={"epochs": 40, "checkpoint_every": 40})
    with httpx.Client(base_url=url, timeout=30) as http:
        exp = http.post("/v1/experiments", json=spec).json()
        path = f"/v1/experiments/{exp['id']}"
        try:
            eta_seen, probing = None, None
            deadline = time.monotonic() + 180
            while probing is None and time.monotonic() < deadline:
                body = http.get(path).json()
                (run,) = body["runs"]
                p = run["progress"]
                if run["status"] == "running" and p["eta_seconds"] and p["epoch"] < p["epochs"] and not eta_seen:
                    eta_seen = [(cli(url, "status", exp["id"]), run["id"]), (cli(url, "list"), exp["id"])]
                if run["status"] == "running" and p["epochs"] and p["epoch"] >= p["epochs"]:
                    probing = cli(url, "status", exp["id"])
                assert run["status"] in ("queued", "running"), body
        finally:
            http.post(f"{path}/cancel")
    assert probing is not None, "the run never reached its probes"
    row = next(ln for ln in probing.stdout.splitlines() if exp["runs"][0]["id"][:8] in ln)
    assert "probes" in row and "40/40" not in row, probing.stdout
    assert "1 run" in probing.stdout and "1 runs" not in probing.stdout, probing.stdout
    assert eta_seen, "no training epoch was seen with an ETA"
    for r, shown in eta_seen:  # status (the run's row) and list (the experiment's row) write it one way
        row = next(ln for ln in r.stdout.splitlines() if ln.startswith(f"│ {shown[:8]} "))
        assert re.search(ETA + r"\s*│\s*$", row), r.stdout
