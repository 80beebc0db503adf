"""Which worker processes `skipcore worker` starts on a machine with GPUs, and with which environment.

One Celery worker per GPU, pinned with CUDA_VISIBLE_DEVICES (so its runs see one device, `cuda`),
each with `per_gpu` pool processes (several small runs share a GPU: one seed-000 MLP uses a tiny
fraction of one). The machine's cores are shared by every pool process: SKIPCORE_WORKER_CONCURRENCY
in a child is the number of training processes on the machine, which the worker divides the cores
by when it sets torch's threads.

Pure planning (`plan_children`) is separate from looking at the machine (`visible_gpus`), so the
plan can be checked without a GPU. Nothing here imports torch unless a GPU driver is present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

PLAN_ENV = "SKIPCORE_VISIBLE_GPUS"  # names the GPUs to plan for instead of asking the driver
MAX_CONCURRENCY = 64  # SKIPCORE_WORKER_CONCURRENCY's upper bound


class PlanError(ValueError):
    """A --gpus / --per-gpu request this machine cannot satisfy (the message says why)."""


@dataclass(frozen=True)
class ChildSpec:
    """One Celery worker process: its pinned GPU (None: the CPU worker), its pool size, the torch
    threads of each pool process and the environment variables it is started with (on top of the
    parent's)."""

    gpu: Optional[str]
    concurrency: int
    threads: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return f"gpu{self.gpu}" if self.gpu is not None else "cpu"


def visible_gpus(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (ids, or UUIDs when the
    variable lists UUIDs); SKIPCORE_VISIBLE_GPUS, when set, names them instead (planning without
    a driver); none when SKIPCORE_DEVICE=cpu or no NVIDIA driver is present."""
    if PLAN_ENV in environ:
        return _names(environ[PLAN_ENV])
    if environ.get("SKIPCORE_DEVICE", "auto").lower() == "cpu":
        return []
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None and not _names(listed):
        return []
    if not Path("/proc/driver/nvidia").exists() and not Path("/dev/nvidiactl").exists():
        return []  # no driver: skip the torch import
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = _names(listed) if listed is not None else [str(i) for i in range(count)]
    return names[:count]


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [] if names in (["-1"], ["none"]) else names


def plan_children(visible: Sequence[str], gpus_arg: Optional[str], per_gpu: int, cpu_count: int,
                  concurrency: int = 1) -> list[ChildSpec]:
    """The worker processes to start.

    - `gpus_arg` None: every visible GPU, or (none visible) one CPU worker of `concurrency`
      processes, as `skipcore worker` always did; "all": every visible GPU (an error if none);
      "none": the CPU worker even where GPUs are visible; "0,2": those GPUs, each of which must be
      visible.
    - `per_gpu`: pool processes per pinned GPU worker; torch threads per process =
      cpu_count // (GPUs x per_gpu), at least 1.
    """
    if per_gpu < 1:
        raise PlanError(f"--per-gpu must be at least 1, got {per_gpu}")
    chosen = _choose(list(visible), gpus_arg)
    cores = max(1, cpu_count)
    if not chosen:
        n = max(1, concurrency)
        return [ChildSpec(None, n, max(1, cores // n), {"SKIPCORE_WORKER_CONCURRENCY": str(n)})]
    total = len(chosen) * per_gpu
    threads = max(1, cores // total)
    shared = {"SKIPCORE_DEVICE": "cuda", "SKIPCORE_WORKER_CONCURRENCY": str(min(total, MAX_CONCURRENCY)),
              "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return [ChildSpec(g, per_gpu, threads, {**shared, "CUDA_VISIBLE_DEVICES": g}) for g in chosen]


def _choose(visible: list[str], gpus_arg: Optional[str]) -> list[str]:
    arg = (gpus_arg or "").strip().lower()
    if gpus_arg is None:
        return visible
    if arg == "none":
        return []
    if arg == "all":
        if not visible:
            raise PlanError("--gpus all: no CUDA device is visible (CUDA_VISIBLE_DEVICES, driver, SKIPCORE_DEVICE)")
        return visible
    wanted = _names(gpus_arg)
    if not wanted:
        raise PlanError(f"--gpus must be 'all', 'none' or a comma-separated list of GPU ids, got {gpus_arg!r}")
    if len(set(wanted)) != len(wanted):
        raise PlanError(f"--gpus names a GPU twice: {gpus_arg!r}")
    missing = [g for g in wanted if g not in visible]
    if missing:
        seen = ",".join(visible) or "none"
        raise PlanError(f"--gpus {gpus_arg}: GPU {','.join(missing)} is not visible (visible: {seen})")
    return wanted
