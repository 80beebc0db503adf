"""Helpers shared by the bench scripts: paired timing, medians, the hand-written training epoch, a
throwaway worker context."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def paired(a: Callable[[], object], b: Callable[[], object], repeats: int, device="cpu") -> dict:
    """Alternate a and b (a b, b a, a b, ...) `repeats` times; ratios are b/a per pair."""
    ta, tb = [], []
    for i in range(repeats):
        if i % 2 == 0:
            ta.append(timed(a, device))
            tb.append(timed(b, device))
        else:
            tb.append(timed(b, device))
            ta.append(timed(a, device))
    ratios = sorted(y / x for x, y in zip(ta, tb))
    return {"a": ta, "b": tb, "ratios": ratios, "median": statistics.median(ratios),
            "a_med": statistics.median(ta), "b_med": statistics.median(tb)}


def hand_epoch(model, opt, x: torch.Tensor, y: torch.Tensor, batch: int, g: torch.Generator,
               weighted: bool = False) -> torch.Tensor:
    """One epoch of the hand-written reference loop (MSE, shuffled mini-batches of `batch`): the sum of
    the batches' losses, on the device (each times its batch's length when `weighted`)."""
    n = len(x)
    perm = torch.randperm(n, generator=g, device=x.device)
    acc = torch.zeros((), device=x.device)
    for i in range(0, n, batch):
        idx = perm[i : i + batch]
        loss = F.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        acc += loss.detach() * len(idx) if weighted else loss.detach()
    return acc


def spread(xs: Sequence[float]) -> str:
    xs = sorted(xs)
    return f"min {xs[0]:.3f} med {statistics.median(xs):.3f} max {xs[-1]:.3f} (n={len(xs)})"


def worker_context(home: Path, database_url: str | None = None):
    """A WorkerContext on a migrated database (SQLite in `home` unless `database_url`)."""
    from persistence import schema
    from persistence.db import make_engine, make_sessionmaker
    from persistence.objects import make_store
    from persistence.settings import Settings
    from worker.context import WorkerContext

    url = database_url or f"sqlite:///{home}/skipcore.db"
    settings = Settings(home=home, database_url=url)
    schema.upgrade(url)
    engine = make_engine(url, pool_size=4)
    return WorkerContext(settings, engine, make_sessionmaker(engine), make_store(settings), "bench:0")


def new_run(sessions, worker: str = "bench:0") -> str:
    from persistence.db import session_scope
    from persistence.models import Experiment, Run

    run_id = uuid.uuid4().hex
    with session_scope(sessions) as s:
        s.add(Experiment(id=run_id, name="bench", spec={}, spec_hash="h"))
        s.flush()
        s.add(Run(id=run_id, experiment_id=run_id, index=0, seed=0, spec={}, status="running",
                  lease_owner=worker))
    return run_id


def tempdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="skipcore-bench-")
