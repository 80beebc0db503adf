"""The client commands of the real CLI (`python -m cli.main ...` subprocesses) against a real
embedded service: submit --watch, status, results --json, cancel, and watch of a cancelled run."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests import live, service
from tests.factories import make_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with live.serve(tmp_path_factory.mktemp("cli_live")) as u:
        yield u


def cli(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = service.service_env(service.ROOT, url=url)  # SKIPCORE_URL, as a user would set it
    env.pop("SKIPCORE_HOME")
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=service.ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_client_and_cli_commands_import_no_torch_and_no_server_code():
    code = ("import sys, client, cli.commands; bad = [m for m in ('torch', 'api', 'worker', 'persistence') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], cwd=service.ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_submit_watch_status_and_results(url, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(make_spec(seeds=[0, 1], probes=[])))
    r = cli(url, "submit", str(spec), "--watch")
    assert r.returncode == 0, r.stdout + r.stderr
    exp_id = r.stdout.splitlines()[0].strip()
    assert f"experiment {exp_id}: succeeded" in r.stdout

    r = cli(url, "status", exp_id)
    assert r.returncode == 0 and "succeeded" in r.stdout and "3/3" in r.stdout, r.stdout + r.stderr

    r = cli(url, "results", exp_id, "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["id"] == exp_id and body["status"] == "succeeded"
    assert sorted(run["seed"] for run in body["runs"]) == [0, 1]
    assert all(run["status"] == "succeeded" and run["summary"]["val_loss"] >= 0 for run in body["runs"])
    (point,) = body["aggregate"]
    assert point["n"] == 2 and point["metrics"]["val_loss"]["ci95"] is not None

    r = cli(url, "results", exp_id)
    assert r.returncode == 0 and "val_l" in r.stdout and exp_id in r.stdout, r.stdout + r.stderr

    r = cli(url, "status", "no-such-experiment")
    assert r.returncode == 1 and "not found" in r.stderr


def test_cancel_a_queued_experiment_and_watch_a_cancelled_one(url, tmp_path):
    long = make_spec(name="long", probes=[], train={"epochs": 100_000, "checkpoint_every": 1000})
    with httpx.Client(base_url=url, timeout=30) as http:
        busy = http.post("/v1/experiments", json=long).json()
        service.wait_for(http, f"/v1/experiments/{busy['id']}", {"running"}, timeout=60)
        queued = http.post("/v1/experiments", json=make_spec(name="waiting", probes=[])).json()
        assert http.get(f"/v1/experiments/{queued['id']}").json()["status"] == "queued"

        r = cli(url, "cancel", queued["id"])
        assert r.returncode == 0 and f"experiment {queued['id']}: cancelled" in r.stdout, r.stdout + r.stderr
        assert http.get(f"/v1/experiments/{queued['id']}").json()["runs"][0]["status"] == "cancelled"

        r = cli(url, "cancel", busy["id"])  # the running one: it stops at its next epoch
        assert r.returncode == 0 and "cancel" in r.stdout, r.stdout + r.stderr
        r = cli(url, "watch", busy["id"])
        assert r.returncode == 1 and f"experiment {busy['id']}: cancelled" in r.stdout, r.stdout + r.stderr
