"""A run end to end through the service vs the bare PyTorch loop of the same epochs, and where the
difference goes (per-run fixed cost vs per-epoch cost).

The run: telescope MLP depth 50, width 64, sine N = 1024, Adam lr 1e-3, the `weight_magnitude`
probe, spec defaults otherwise (log_every 1, checkpoint_every 10), at full batch and at batch 32,
for a long and a short number of epochs. Side B submits it to `skipcore serve` (default worker
settings, started before the clock) and reads `started_at -> finished_at`; side A trains the same
model for the same epochs in this process with `bench.train_overhead.minimal` (the loop a user
writes: randperm slices, Adam, loss read once per epoch), with the worker's torch threads
(cores / SKIPCORE_WORKER_CONCURRENCY). Sides alternate (A B, B A, ...).

From the run's own records (metric point times are the wall clock of each epoch's report; the
worker log's claim/finish lines) the run is split into
  start-up    started_at -> the epoch-0 report (data, model build, the init evaluation)
  epochs      epoch-0 report -> last epoch's report: of which `in loop` is the sum of the loop's
              own epoch_time metric (training + validation + layer statistics) and `steps` the sum of
              its step_time metric (the training steps alone), the rest reporting, flushes and
              checkpoints between epochs
  tail        last epoch's report -> finished_at (probes, figure specs, last checkpoint, finish;
              the figures' images are drawn by the figure task after finished_at, and the next
              side starts once they are: a bare loop timed beside that drawing would be slowed)
and the per-epoch cost is compared with the bare loop's.

    .venv/bin/python bench/run_overhead.py [--cases full:300,full:30,32:100,32:30] [--repeats 2] [--concurrency 1]
Target: end to end <= 1.15x the bare loop.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._cli import options  # noqa: E402


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


PROBE = "weight_magnitude"


def spec(bs: int | None, epochs: int) -> dict:
    return {"name": f"overhead-{bs or 'full'}-{epochs}",
            "model": {"family": "telescope_mlp", "depth": 50, "width": 64},
            "data": {"name": "sine", "n_train": 1024},
            "train": {"optimizer": "adam", "lr": 0.001, "epochs": epochs, "batch_size": bs},
            "probes": [{"name": PROBE}], "seeds": [0]}


def bare(bs: int | None, epochs: int) -> float:
    import torch

    from bench.train_overhead import build, minimal
    from skipcore.data.synthetic import sine
    from skipcore.spec.data import Sine

    t0 = time.perf_counter()
    torch.manual_seed(0)
    data = sine(Sine(name="sine", n_train=1024), seed=0)
    minimal(build(50, 64, "cpu"), data.x_train, data.y_train, epochs, bs or 1024, 0)
    return time.perf_counter() - t0


def log_times(log: Path, run_id: str) -> dict[str, float]:
    """The worker log's claim and finish lines of a run (Celery's `[YYYY-mm-dd HH:MM:SS,mmm: ...]`)."""
    out = {}
    for line in log.read_text(errors="replace").splitlines():
        if run_id not in line:
            continue
        m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
        if " claimed by " in line:
            out["claimed"] = t
        elif line.rstrip().endswith(" succeeded"):
            out["finished"] = t
    return out


def service_run(c, svc, bs: int | None, epochs: int) -> dict:
    from bench._service import wait_ended

    submitted = time.time()
    eid = c.post("/v1/experiments", json=spec(bs, epochs)).raise_for_status().json()["id"]
    exp = wait_ended(c, f"/v1/experiments/{eid}", timeout=1800, poll=0.2)
    run = exp["runs"][0]
    if run["status"] != "succeeded":
        raise RuntimeError(f"run {run['id']} {run['status']}: {run['error']}")
    rid = run["id"]
    figures_drawn(c, rid)

    def points(key: str) -> list[dict]:
        return c.get(f"/v1/runs/{rid}/metrics/{key}").json()["points"]

    val = {p["step"]: _ts(p["time"]) for p in points("val_loss")}  # epoch 0: the init's evaluation
    trained = {p["step"]: _ts(p["time"]) for p in points("train_loss")}
    in_loop = sum(p["value"] for p in points("epoch_time"))
    steps = sum(p["value"] for p in points("step_time"))  # the training steps alone
    start, end = _ts(run["started_at"]), _ts(run["finished_at"])
    first, last = val[min(val)], trained[max(trained)]
    logged = log_times(svc.home / "proc0.log", rid)
    return {"total": end - start, "queue": start - submitted, "startup": first - start, "epochs": last - first,
            "in_loop": in_loop, "steps": steps, "val_passes": len(val) - 1, "tail": end - last,
            "log_total": logged["finished"] - logged["claimed"] if len(logged) == 2 else float("nan")}


def figures_drawn(c, run_id: str, timeout: float = 120.0) -> None:
    """Wait until the figure task has drawn the run's probe figure (its PNG is stored): the worker
    draws it after the run is finished, and a bare loop timed while it draws would share the CPU."""
    deadline = time.monotonic() + timeout
    while not any(a["name"] == f"figures/{PROBE}.png" for a in c.get(f"/v1/runs/{run_id}/artifacts").json()["items"]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id}: its {PROBE} figure was not drawn within {timeout:.0f} s")
        time.sleep(0.05)


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(fixed, per_epoch) of y = fixed + per_epoch * x through the points (least squares)."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else float("nan")
    return my - slope * mx, slope


def tail_breakdown(epochs: int, repeats: int) -> None:
    """The tail's parts, in this process as the worker runs them after training (full batch):
    last flush, waiting for the last checkpoint, the probe, storing its result, its figure's
    Vega-Lite spec and the training figure's; then, apart, what the figure task does once the run
    is finished (off the run's time): the probe figure's PNG/SVG."""
    import tempfile

    from bench._common import new_run, worker_context
    from skipcore.data.synthetic import sine as sine_data
    from skipcore.probes import run_probe
    from skipcore.spec import ExperimentSpec
    from skipcore.train.loop import fit
    from worker import execute, figures
    from worker.reporter import DbReporter

    exp = ExperimentSpec.model_validate(spec(None, epochs))
    parts: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="skipcore-bench-") as tmp:
        ctx = worker_context(Path(tmp))
        for _ in range(repeats):
            from bench.train_overhead import build

            data = sine_data(exp.data, seed=0)
            model = build(50, 64, "cpu")
            run_id = new_run(ctx.sessions)
            rep = DbReporter(ctx, run_id, epochs)
            try:
                fit(model, data, exp.train, probes=exp.probes, reporter=rep, seed=0, device="cpu")
                steps = [("flush", rep.flush), ("last checkpoint", rep.wait_checkpoint)]
                out: dict = {}
                steps += [("probe", lambda: out.update(run_probe(exp.probes[0], model, data))),
                          ("probe record", lambda: execute._store_probe(ctx, run_id, "weight_magnitude", "succeeded",
                                                                        out, None)),
                          ("probe figure spec", lambda: figures.probe_spec(ctx, run_id, "weight_magnitude", out)),
                          ("training figure spec", lambda: figures.training_figure(ctx, run_id)),
                          ("after finish: probe figure images",
                           lambda: figures.missing_figures(ctx, [run_id], training=False))]
                for name, fn in steps:
                    t0 = time.perf_counter()
                    fn()
                    parts.setdefault(name, []).append(time.perf_counter() - t0)
            finally:
                rep.close()
        ctx.engine.dispose()
    print(f"tail parts (in process, full batch x {epochs} epochs, median of {repeats}): "
          + ", ".join(f"{k} {statistics.median(v) * 1e3:.0f} ms" for k, v in parts.items()))


def main() -> None:
    args = options(cases=("full:300,full:30,32:100,32:30", "batch:epochs, comma-separated"), repeats=2,
                   concurrency=(1, "SKIPCORE_WORKER_CONCURRENCY (torch threads = cores / it, on both sides); runs go "
                                   "one at a time"),
                   tail=(False, "only the tail's parts, in process"))
    if args.tail:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.concurrency))
        return tail_breakdown(30, args.repeats)
    import httpx
    import torch

    from bench._service import service

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.concurrency))  # the worker's threads
    cases = [(None if b == "full" else int(b), int(e)) for b, e in (c.split(":") for c in args.cases.split(","))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), cpu_count {os.cpu_count()}", flush=True)
    rows = []
    with service("embedded", concurrency=args.concurrency) as svc, httpx.Client(base_url=svc.url, timeout=30) as c:
        service_run(c, svc, None, 2)  # warm the worker (torch import, first run)
        for bs, epochs in cases:
            a, b = [], []
            for i in range(args.repeats):
                for side in (("A", "B") if i % 2 == 0 else ("B", "A")):
                    if side == "A":
                        a.append(bare(bs, epochs))
                    else:
                        b.append(service_run(c, svc, bs, epochs))
            ratios = sorted(y["total"] / x for x, y in zip(a, b))
            med = {k: statistics.median(y[k] for y in b) for k in b[0]}
            rows.append((bs, epochs, statistics.median(a), med))
            print(f"batch {bs or 'full':>4} x {epochs:>3} epochs: bare {statistics.median(a):.2f} s, run "
                  f"{med['total']:.2f} s (worker log {med['log_total']:.2f} s, queued {med['queue']:.2f} s before); "
                  f"ratio median {statistics.median(ratios):.2f} [min {ratios[0]:.2f}, max {ratios[-1]:.2f}, n={len(ratios)}]\n"
                  f"    start-up {med['startup']:.2f} s | epochs {med['epochs']:.2f} s ({med['epochs'] / epochs * 1e3:.1f} ms/epoch; "
                  f"in loop {med['in_loop'] / epochs * 1e3:.1f} ms of which steps {med['steps'] / epochs * 1e3:.1f} ms, "
                  f"bare {statistics.median(a) / epochs * 1e3:.1f} ms; {med['val_passes']:.0f} validation passes) "
                  f"| tail {med['tail']:.2f} s", flush=True)
    print("\nper batch size, fitted over the epoch counts: total = fixed + per_epoch x epochs")
    for bs in sorted({r[0] or 0 for r in rows}):
        sel = [r for r in rows if (r[0] or 0) == bs]
        if len({r[1] for r in sel}) < 2:
            continue
        f_run, e_run = fit_line([r[1] for r in sel], [r[3]["total"] for r in sel])
        f_bare, e_bare = fit_line([r[1] for r in sel], [r[2] for r in sel])
        print(f"batch {bs or 'full':>4}: run fixed {f_run:.2f} s + {e_run * 1e3:.1f} ms/epoch; bare fixed {f_bare:.2f} s "
              f"+ {e_bare * 1e3:.1f} ms/epoch; per-epoch ratio {e_run / e_bare:.2f}")


if __name__ == "__main__":
    main()
