"""`skipcore worker` on a machine with GPUs: one Celery worker per GPU pinned with
CUDA_VISIBLE_DEVICES, `--per-gpu` pool processes each, cores shared out; the CPU default unchanged.

The plan is a pure function (checked directly); the processes are checked on this machine by
naming the GPUs to plan for with SKIPCORE_VISIBLE_GPUS (the children then start, pinned, without
a driver: a run would fail to find CUDA, but none is sent)."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil
import pytest

from servicekit import CLI, ROOT, service_env, spawn, stop
from worker.gpus import PlanError, plan_children, visible_gpus


def test_cpu_machine_plans_the_single_cpu_worker_as_before():
    (only,) = plan_children([], None, 1, cpu_count=2, concurrency=2)
    assert only.gpu is None and only.concurrency == 2 and only.threads == 1
    assert only.env == {"SKIPCORE_WORKER_CONCURRENCY": "2"}  # no CUDA_VISIBLE_DEVICES, no device forced


def test_every_visible_gpu_gets_a_pinned_worker_by_default_with_cores_shared_out():
    kids = plan_children(["0", "1", "2", "3"], None, 2, cpu_count=16)
    assert [k.env["CUDA_VISIBLE_DEVICES"] for k in kids] == ["0", "1", "2", "3"]
    assert {k.concurrency for k in kids} == {2}
    assert {k.threads for k in kids} == {2}  # 16 cores / (4 GPUs x 2 processes)
    for k in kids:
        assert k.env["SKIPCORE_DEVICE"] == "cuda"
        assert k.env["SKIPCORE_WORKER_CONCURRENCY"] == "8"  # the worker divides the cores by 8
        assert k.env["OMP_NUM_THREADS"] == "2"
    assert len({k.node for k in kids}) == 4  # distinct Celery node names


def test_gpus_arg_selects_names_and_keeps_visible_names_such_as_uuids():
    kids = plan_children(["GPU-aa", "GPU-bb"], "GPU-bb", 3, cpu_count=2)
    assert [(k.gpu, k.env["CUDA_VISIBLE_DEVICES"], k.concurrency, k.threads) for k in kids] == [
        ("GPU-bb", "GPU-bb", 3, 1)]
    assert [k.gpu for k in plan_children(["0", "1"], "all", 1, 8)] == ["0", "1"]
    assert plan_children(["0", "1"], "none", 1, 8, concurrency=3)[0].gpu is None


@pytest.mark.parametrize("visible, arg, needle", [
    ([], "all", "no CUDA device"),
    (["0", "1"], "2", "GPU 2 is not visible (visible: 0,1)"),
    (["0", "1"], "0,0", "twice"),
    (["0"], ",", "comma-separated"),
])
def test_impossible_gpu_requests_are_refused_with_the_reason(visible, arg, needle):
    with pytest.raises(PlanError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        plan_children(visible, arg, 1, 2)


def test_visible_gpus_follow_cuda_visible_devices_and_the_cpu_setting():
    assert visible_gpus({"SKIPCORE_VISIBLE_GPUS": "3,5"}) == ["3", "5"]
    assert visible_gpus({"SKIPCORE_DEVICE": "cpu"}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []


def _worker(tmp_path, *args: str, **settings: str) -> tuple[subprocess.Popen, dict]:
    env = service_env(tmp_path, **settings)
    subprocess.run(CLI + ["db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    return spawn(CLI + ["worker", *args], env, tmp_path / "worker.log"), env


def _celery_tree(pid: int, n_workers: int, n_pool: int, timeout: float = 90.0) -> dict[int, list[int]]:
    """{celery main pid: [pool pids]} under `pid`, once there are n_workers mains of n_pool each."""
    deadline = time.monotonic() + timeout
    found: dict[int, list[int]] = {}
    while time.monotonic() < deadline:
        try:
            mains = psutil.Process(pid).children()
            found = {m.pid: [c.pid for c in m.children()] for m in mains if "celery" in " ".join(m.cmdline())}
        except psutil.NoSuchProcess:
            found = {}
        if len(found) == n_workers and all(len(v) == n_pool for v in found.values()):
            return found
        time.sleep(0.2)
    raise AssertionError(f"expected {n_workers} Celery workers of {n_pool} processes under {pid}, saw {found}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_worker_per_gpu_children_are_pinned_and_stop_with_their_parent(tmp_path, sig):
    proc, _ = _worker(tmp_path, "--gpus", "0,1", "--per-gpu", "2", visible_gpus="0,1")
    try:
        tree = _celery_tree(proc.pid, 2, 2)
        pinned = sorted(psutil.Process(m).environ().get("CUDA_VISIBLE_DEVICES") for m in tree)
        assert pinned == ["0", "1"]
        for main, pool in tree.items():
            for pid in [main, *pool]:
                env = psutil.Process(pid).environ()
                assert env["SKIPCORE_DEVICE"] == "cuda" and env["SKIPCORE_WORKER_CONCURRENCY"] == "4"
        pids = [p for main, pool in tree.items() for p in (main, *pool)]
        proc.send_signal(sig)
        proc.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(psutil.pid_exists(p) and _alive(p) for p in pids):
            time.sleep(0.2)
        left = [p for p in pids if psutil.pid_exists(p) and _alive(p)]
        assert not left, f"{sig.name}: worker processes {left} outlived the parent:\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
    finally:
        stop(proc)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cpu_worker_by_default_is_one_celery_process_tree_without_pinning(tmp_path):
    proc, _ = _worker(tmp_path, "--concurrency", "2", visible_gpus="")
    try:
        deadline = time.monotonic() + 90
        pool: list = []
        while time.monotonic() < deadline and len(pool) != 2:
            pool = psutil.Process(proc.pid).children()
            time.sleep(0.2)
        assert "celery" in " ".join(psutil.Process(proc.pid).cmdline())  # the command became Celery itself
        assert len(pool) == 2
        env = psutil.Process(proc.pid).environ()
        assert "CUDA_VISIBLE_DEVICES" not in env and env["SKIPCORE_WORKER_CONCURRENCY"] == "2"
    finally:
        stop(proc)


def test_per_gpu_without_gpus_is_refused(tmp_path):
    out = subprocess.run(CLI + ["worker", "--per-gpu", "2"], env=service_env(tmp_path, visible_gpus=""),
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--per-gpu needs GPUs" in out.stderr


def test_the_compose_worker_command_starts_on_a_gpu_machine(tmp_path):
    """docker-compose.yml's worker, as written, on a machine with one GPU (planned, no driver needed):
    one Celery worker pinned to it, not a refusal (`--concurrency` is refused where GPUs are used)."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["worker"]["command"]
    assert command[:2] == ["skipcore", "worker"], command
    proc, _ = _worker(tmp_path, *command[2:], visible_gpus="0")
    try:
        tree = _celery_tree(proc.pid, 1, 1)
        (main,) = tree
        env = psutil.Process(main).environ()
        assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["SKIPCORE_DEVICE"] == "cuda"
    finally:
        stop(proc)
