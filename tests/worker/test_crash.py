"""Nothing lost: SIGKILL a whole worker mid-run; the lease expires, the API's sweeper requeues the
run, a second worker resumes it from its last checkpoint, and the metric history ends with exactly
one point per (key, step).

Production profile (Postgres + Redis, real `skipcore api` and `skipcore worker` processes) and
the embedded profile (filesystem broker: the message dies with the worker, only the sweeper can
bring the run back). Short lease and heartbeat so a dead worker is noticed within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests import service
from tests.factories import long_sine_spec, make_spec

pytestmark = pytest.mark.slow

# every checkpoint stored (no time floor): these runs are killed a second or two into training
FAST_LEASE = dict(lease_seconds="3", heartbeat_seconds="0.5", sweep_interval_seconds="0.5", metric_flush_seconds="0.3",
                  checkpoint_min_seconds="0")
EPOCHS = 40
KILL_AT = 6

# ~0.15 s an epoch on one idle CPU thread (several times that on a busy CI box): long enough to kill
# mid-run, short enough for CI
LONG_SPEC = long_sine_spec("crash", n_train=512, epochs=EPOCHS, checkpoint_every=2)


def kill_group(proc: subprocess.Popen | psutil.Process) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    if isinstance(proc, subprocess.Popen):
        proc.wait(10)
        return
    deadline = time.monotonic() + 10  # not our child: dead once gone or a zombie of its parent
    while _running(proc):
        assert time.monotonic() < deadline, f"process {proc.pid} survived SIGKILL"
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_run(client: httpx.Client, run_id: str, pred, timeout: float, poll: float = 0.05) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/v1/runs/{run_id}").json()
        if pred(run):
            return run
        time.sleep(poll)
    raise TimeoutError(f"run {run_id} never got there: {run}")


def submit(client: httpx.Client) -> str:
    r = client.post("/v1/experiments", json=LONG_SPEC)
    assert r.status_code == 201, r.text
    return r.json()["runs"][0]["id"]


def kill_mid_run_and_resume(client: httpx.Client, run_id: str, worker: subprocess.Popen, start_second) -> dict:
    """Kill `worker` (its whole process group) at epoch >= KILL_AT, start another; return the facts."""
    before = wait_run(client, run_id, lambda r: r["progress"]["epoch"] >= KILL_AT or r["status"] not in
                      ("queued", "running"), timeout=120)
    assert before["status"] == "running", before
    kill_group(worker)
    t_kill = time.monotonic()
    # the last progress the dead worker wrote (the lease keeps anyone else off for a few seconds)
    killed_at_epoch = client.get(f"/v1/runs/{run_id}").json()["progress"]["epoch"]
    assert killed_at_epoch < EPOCHS, "the run finished before the kill: make LONG_SPEC longer"
    second = start_second()
    back = wait_run(client, run_id, lambda r: r["status"] == "running" and r["attempts"] == 2, timeout=90, poll=0.02)
    redelivery = time.monotonic() - t_kill
    final = wait_run(client, run_id, lambda r: r["status"] in ("succeeded", "failed", "cancelled"), timeout=120,
                     poll=0.2)
    return {"killed_at_epoch": killed_at_epoch, "redelivery_s": redelivery, "final": final, "second": second,
            "running_again": back}


def check_nothing_lost(client: httpx.Client, facts: dict, second_log: Path) -> None:
    run = facts["final"]
    assert run["status"] == "succeeded", run
    assert run["attempts"] == 2, run
    assert run["resumes"] >= 1, run
    resumed_from = run["summary"]["resumed_from"]
    assert 0 < resumed_from <= facts["killed_at_epoch"], (resumed_from, facts)
    assert resumed_from % 2 == 0  # checkpoint_every 2
    assert f"resumes from the checkpoint of epoch {resumed_from}" in second_log.read_text()
    assert run["summary"]["epochs_run"] == EPOCHS
    assert run["progress"]["epoch"] == EPOCHS

    keys = client.get(f"/v1/runs/{run['id']}/metrics").json()["keys"]
    assert {"train_loss", "val_loss"} <= set(keys), keys
    for key in keys:
        steps = [p["step"] for p in client.get(f"/v1/runs/{run['id']}/metrics/{key}").json()["points"]]
        assert steps == list(range(1, EPOCHS + 1)), (key, steps)  # no duplicates, no gaps
    print(f"\nkilled at epoch {facts['killed_at_epoch']}, resumed from checkpoint epoch {resumed_from}, "
          f"kill -> running again {facts['redelivery_s']:.2f}s")


def test_whole_worker_sigkill_on_production_profile_resumes_from_checkpoint(home, fresh_pg_url, redis_url):
    settings = dict(database_url=fresh_pg_url, broker_url=redis_url, device="cpu", **FAST_LEASE)
    with service.production(home, **settings) as (url, procs), httpx.Client(base_url=url, timeout=30) as client:
        run_id = submit(client)
        env = service.service_env(home, profile="production", require_auth="false", **settings)
        second_log = home / "worker-second.log"
        started: list[subprocess.Popen] = []

        def start_second() -> subprocess.Popen:
            p = service._spawn(service.CLI + ["worker", "--concurrency", "1"], env, second_log)
            started.append(p)
            return p

        try:
            facts = kill_mid_run_and_resume(client, run_id, procs[1], start_second)
            check_nothing_lost(client, facts, second_log)
        finally:
            for p in started:
                service.stop(p)


def _embedded_worker(serve: subprocess.Popen) -> psutil.Process:
    """The Celery worker `skipcore serve` started (its own session)."""
    for child in psutil.Process(serve.pid).children():
        if "celery" in " ".join(child.cmdline()):
            return child
    raise AssertionError(f"no worker under serve {serve.pid}")


def test_whole_worker_sigkill_on_embedded_profile_is_requeued_by_the_sweeper(home):
    settings = dict(device="cpu", **FAST_LEASE)
    env = service.service_env(home, **settings)
    port = service.free_port()
    serve = service._spawn(service.CLI + ["serve", "--port", str(port)], env, home / "serve.log")
    url = f"http://127.0.0.1:{port}"
    second_log = home / "worker-second.log"
    started: list[subprocess.Popen] = []
    try:
        service.wait_healthy(url, [serve], [home / "serve.log"])
        with httpx.Client(base_url=url, timeout=30) as client:
            run_id = submit(client)
            worker = _embedded_worker(serve)

            def start_second() -> subprocess.Popen:
                p = service._spawn(service.CLI + ["worker", "--concurrency", "1"], env, second_log)
                started.append(p)
                return p

            facts = kill_mid_run_and_resume(client, run_id, worker, start_second)
            check_nothing_lost(client, facts, second_log)
    finally:
        for p in started:
            service.stop(p)
        service.stop(serve)


def _pool_children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (the Celery main process's prefork pool)."""
    return [c.pid for c in psutil.Process(pid).children()]


def test_pool_child_sigkill_on_redis_is_requeued_by_reject_on_worker_lost(home, fresh_pg_url, redis_url):
    """Only the pool child dies; the Celery main process survives, sees WorkerLostError and (acks_late +
    reject_on_worker_lost) puts the message back on Redis; its fresh pool child takes the dead child's
    lease and resumes from the checkpoint. The API's sweeper is slowed to 10 minutes, so the broker's
    requeue alone must bring the run back."""
    settings = dict(database_url=fresh_pg_url, broker_url=redis_url, device="cpu",
                    **{**FAST_LEASE, "lease_seconds": "30", "heartbeat_seconds": "0.5", "sweep_interval_seconds": "600"})
    with service.production(home, **settings) as (url, procs), httpx.Client(base_url=url, timeout=30) as client:
        run_id = submit(client)
        worker = procs[1]
        before = wait_run(client, run_id, lambda r: r["progress"]["epoch"] >= KILL_AT or r["status"] not in
                          ("queued", "running"), timeout=120)
        assert before["status"] == "running", before
        (child,) = _pool_children(worker.pid)
        os.kill(child, signal.SIGKILL)
        t_kill = time.monotonic()
        killed_at_epoch = client.get(f"/v1/runs/{run_id}").json()["progress"]["epoch"]
        assert killed_at_epoch < EPOCHS, "the run finished before the kill: make LONG_SPEC longer"
        wait_run(client, run_id, lambda r: r["status"] == "running" and r["attempts"] == 2, timeout=25, poll=0.02)
        redelivery = time.monotonic() - t_kill
        final = wait_run(client, run_id, lambda r: r["status"] in ("succeeded", "failed", "cancelled"), timeout=120,
                         poll=0.2)
        assert worker.poll() is None, "the Celery main process should have survived its child"
        assert child not in _pool_children(worker.pid)
        assert redelivery < 20, redelivery  # well inside the 30 s lease: not a lease expiry
        check_nothing_lost(client, {"killed_at_epoch": killed_at_epoch, "redelivery_s": redelivery, "final": final},
                           home / "worker0.log")


def test_probes_and_figures_longer_than_the_lease_keep_it(home):
    """After training come the final checkpoint, the probes and the probe figures' specs. They can take longer
    than the lease; the heartbeat must go on meanwhile, or the sweeper requeues a healthy run and it
    trains again (seen: three attempts, then `failed`)."""
    from datetime import datetime

    lease = 1.5  # the probes take ~4 s on an idle machine; a heartbeat stall under CI load can reach ~1 s
    settings = dict(device="cpu", lease_seconds=str(lease), heartbeat_seconds="0.1", sweep_interval_seconds="0.1",
                    metric_flush_seconds="0.2")
    spec = make_spec(name="long-probes", model={"family": "telescope_mlp", "depth": 8, "width": 32},
                     train={"epochs": 3, "checkpoint_every": 1},
                     probes=[{"name": "loss_landscape", "dims": 2, "points": 101, "n_samples": 2048},
                             {"name": "weight_magnitude"}, {"name": "skip_ablation", "grid_points": 64}],
                     seeds=[0])
    with service.embedded(home, **settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        exp = client.post("/v1/experiments", json=spec).json()
        done = service.wait_for(client, f"/v1/experiments/{exp['id']}", {"succeeded", "failed", "cancelled"},
                                timeout=240)
        for run in done["runs"]:
            assert run["status"] == "succeeded", run
            assert run["attempts"] == 1 and run["resumes"] == 0, run  # never requeued, never trained twice
            last = client.get(f"/v1/runs/{run['id']}/metrics/val_loss").json()["points"][-1]
            after = (datetime.fromisoformat(run["finished_at"].replace("Z", "+00:00"))
                     - datetime.fromisoformat(last["time"].replace("Z", "+00:00"))).total_seconds()
            assert after > lease, f"probes took {after:.2f}s, not longer than the lease: make them longer"
            print(f"\nrun {run['id'][:8]}: {after:.1f}s of probes after training, lease {lease}s, "
                  f"attempts {run['attempts']}")


def test_a_worker_killed_during_the_probes_resumes_at_the_probes_without_training_again(
        home, fresh_pg_url, redis_url):
    """The last epoch's checkpoint carries the loop state: a run whose worker dies while the probes
    run is resumed by another worker from that checkpoint, trains no epoch again (its points keep
    the first attempt's times), runs the probes and ends with its full summary."""
    from datetime import datetime

    from sqlalchemy import create_engine, text

    epochs = 3
    spec = make_spec(name="killed-in-probes", model={"family": "telescope_mlp", "depth": 8, "width": 32},
                     train={"epochs": epochs, "checkpoint_every": 1},
                     probes=[{"name": "loss_landscape", "dims": 2, "points": 101, "n_samples": 2048},
                             {"name": "weight_magnitude"}, {"name": "skip_ablation", "grid_points": 64}],
                     seeds=[0])
    settings = dict(database_url=fresh_pg_url, broker_url=redis_url, device="cpu", **FAST_LEASE)
    engine = create_engine(fresh_pg_url)
    second_log = home / "worker-second.log"
    started: list[subprocess.Popen] = []
    try:
        with service.production(home, **settings) as (url, procs), httpx.Client(base_url=url, timeout=30) as client:
            r = client.post("/v1/experiments", json=spec)
            assert r.status_code == 201, r.text
            run_id = r.json()["runs"][0]["id"]

            def state() -> tuple:
                with engine.connect() as conn:
                    return conn.execute(text("SELECT status, checkpoint_epoch FROM runs WHERE id = :id"),
                                        {"id": run_id}).one()

            deadline = time.monotonic() + 120
            while state() != ("running", epochs):  # trained, last checkpoint stored: the probes run now
                assert time.monotonic() < deadline and state()[0] in ("queued", "running"), state()
                time.sleep(0.02)
            kill_group(procs[1])
            killed_at = datetime.now().astimezone()
            assert state()[0] == "running", "the probes ended before the kill: make them longer"
            started.append(service.production_worker(home, 1, **settings))
            final = wait_run(client, run_id, lambda r: r["status"] in ("succeeded", "failed", "cancelled"),
                             timeout=180, poll=0.2)
            assert final["status"] == "succeeded", final
            assert final["attempts"] == 2 and final["resumes"] == 1, final
            assert final["summary"]["resumed_from"] == epochs and final["summary"]["epochs_run"] == epochs
            assert {"train_loss", "val_loss", "best_val_loss", "time_s"} <= set(final["summary"]), final["summary"]
            assert final["progress"]["epoch"] == epochs
            for key in ("train_loss", "val_loss"):
                points = client.get(f"/v1/runs/{run_id}/metrics/{key}").json()["points"]
                first = 0 if key == "val_loss" else 1  # weight_magnitude records the init as epoch 0
                assert [p["step"] for p in points] == list(range(first, epochs + 1)), (key, points)
                times = [datetime.fromisoformat(p["time"].replace("Z", "+00:00")) for p in points]
                assert max(times) < killed_at, (key, times, killed_at)  # recorded by the first attempt only
            probes = {p["name"]: p["status"] for p in client.get(f"/v1/runs/{run_id}/probes").json()["items"]}
            assert probes == {"loss_landscape": "succeeded", "weight_magnitude": "succeeded",
                              "skip_ablation": "succeeded"}, probes
            log = (home / "worker1.log").read_text()
            assert f"resumes from the checkpoint of epoch {epochs}" in log and "training again" not in log, log[-3000:]
            print(f"\nkilled during the probes; the second worker resumed at epoch {epochs} and ran only the probes")
    finally:
        for p in started:
            service.stop(p)
        engine.dispose()
