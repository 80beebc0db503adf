"""The client commands of the real CLI (`python -m cli.main ...` subprocesses) against a real
embedded service: submit --watch, status, results --json, cancel, and watch of a cancelled run;
and `skipcore serve` stopped by SIGTERM, SIGINT or SIGKILL leaves no worker process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests import service
from tests.factories import make_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with service.embedded(tmp_path_factory.mktemp("cli_live")) as u:
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
        queued = http.post("/v1/experiments", json=make_spec(name="waiting", probes=[], seeds=[0, 1])).json()
        assert http.get(f"/v1/experiments/{queued['id']}").json()["status"] == "queued"

        one = queued["runs"][1]["id"]
        r = cli(url, "cancel", "--run", one)  # one run only
        assert r.returncode == 0 and f"run {one}: cancelled" in r.stdout, r.stdout + r.stderr
        assert [x["status"] for x in http.get(f"/v1/experiments/{queued['id']}").json()["runs"]] == \
            ["queued", "cancelled"]

        r = cli(url, "cancel", queued["id"])
        assert r.returncode == 0 and f"experiment {queued['id']}: cancelled" in r.stdout, r.stdout + r.stderr
        assert {x["status"] for x in http.get(f"/v1/experiments/{queued['id']}").json()["runs"]} == {"cancelled"}

        r = cli(url, "cancel", busy["id"])  # the running one: it stops at its next epoch
        assert r.returncode == 0 and "cancel" in r.stdout, r.stdout + r.stderr
        r = cli(url, "watch", busy["id"])
        assert r.returncode == 1 and f"experiment {busy['id']}: cancelled" in r.stdout, r.stdout + r.stderr


def _children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def _worker_and_pool(proc: subprocess.Popen, n: int, log: Path, timeout: float = 90) -> tuple[list[int], list[int]]:
    """serve's Celery worker process(es) and their pool children, once there are `n` pool children
    (or fail, with the log)."""
    deadline = time.monotonic() + timeout
    workers: list[int] = []
    pool: list[int] = []
    while time.monotonic() < deadline:
        workers = [p for p in _children(proc.pid) if "celery" in " ".join(_cmdline(p))]
        pool = [c for w in workers for c in _children(w)]
        if workers and len(pool) >= n:
            return workers, pool
        time.sleep(0.1)
    raise AssertionError(f"{len(pool)} pool children under serve, wanted {n}:\n{log.read_text()[-3000:]}")


def _serve_with_worker(home: Path) -> tuple[subprocess.Popen, list[int]]:
    """`skipcore serve`, healthy, with its Celery worker and the worker's pool child started."""
    port = service.free_port()
    log = home / "serve.log"
    proc = service._spawn(service.CLI + ["serve", "--port", str(port)], service.service_env(home), log)
    service.wait_healthy(f"http://127.0.0.1:{port}", [proc], [log])
    try:
        workers, pool = _worker_and_pool(proc, 1, log, timeout=60)
    except AssertionError:
        service.stop(proc)
        raise
    return proc, workers + pool


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_serve_stopped_by_a_signal_leaves_no_worker_behind(tmp_path, sig):
    home = tmp_path / "home"
    home.mkdir()
    proc, pids = _serve_with_worker(home)
    try:
        t0 = time.monotonic()
        proc.send_signal(sig)  # to serve alone, as systemd/docker/kill would; not to a process group
        proc.wait(40)
        deadline = time.monotonic() + 40  # SIGKILL: the worker gets its parent-death SIGTERM, shuts down warm
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in pids if _alive(p)]
        assert not left, f"worker processes {left} outlived serve after {sig.name}"
        print(f"\n{sig.name}: serve exited {proc.returncode}; its {len(pids)} worker processes gone after "
              f"{time.monotonic() - t0:.1f}s")
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        service.stop(proc)


@pytest.mark.parametrize("command", ["serve", "api"])
def test_no_auth_on_a_network_address_is_refused(tmp_path, command):
    env = service.service_env(tmp_path, require_auth="false")
    r = subprocess.run(service.CLI + [command, "--host", "0.0.0.0", "--port", str(service.free_port())], env=env,
                       cwd=service.ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "refusing to serve without authentication" in r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("setting, expected", [
    ("auto", min(len(os.sched_getaffinity(0)), 8)),  # the default: one training process per core
    ("3", 3),
], ids=["auto", "explicit"])
def test_serve_starts_as_many_training_processes_as_the_setting_says(tmp_path, setting, expected):
    """SKIPCORE_WORKER_CONCURRENCY is what `serve` starts (before, serve's own --concurrency default of 1
    won over it), and each process gets cores / concurrency torch threads."""
    home = tmp_path / "home"
    home.mkdir()
    log = home / "serve.log"
    env = service.service_env(home, worker_concurrency=setting, device="cpu")
    port = service.free_port()
    proc = service._spawn(service.CLI + ["serve", "--port", str(port)], env, log)
    try:
        service.wait_healthy(f"http://127.0.0.1:{port}", [proc], [log])
        _, pool = _worker_and_pool(proc, expected, log)
        threads = max(1, len(os.sched_getaffinity(0)) // expected)
        line = f"torch uses {threads} thread(s) per worker process ({len(os.sched_getaffinity(0))} cores / concurrency {expected})"
        deadline = time.monotonic() + 60
        while log.read_text().count(line) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pool) == expected and log.read_text().count(line) == expected, log.read_text()[-3000:]
    finally:
        service.stop(proc, 30.0, signal.SIGINT)


@pytest.mark.parametrize("command", ["serve", "worker", "api"])
def test_a_bad_setting_is_one_line_naming_it_not_a_traceback(tmp_path, command):
    env = service.service_env(tmp_path, worker_concurrency="0")
    r = subprocess.run(service.CLI + [command], env=env, cwd=service.ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip() == "error: SKIPCORE_WORKER_CONCURRENCY must be 'auto' or a whole number from 1 to 64, got '0'"
    assert "Traceback" not in r.stdout + r.stderr
