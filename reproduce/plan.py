"""Measure first, then plan: time a few epochs of every configuration a scale trains, through the
same service, and extrapolate to the scale's epochs, seeds and sweep points.

Each study is submitted once more with `TIMING_EPOCHS` epochs, its `model.init` arms cut to one (the
init does not change the cost) and, for families that do not train as seed ensembles, one seed. Per
sweep point the time of one epoch is the median `epoch_time` metric after the first epoch (the
training loop's own timer: training steps and the per-epoch validation pass; no database writes or
checkpoints), and the fixed cost (model build, data, probes, bookkeeping) is the run's wall time
minus its epochs. The plan is then, per point, fixed cost + epochs x epoch time, times the runs a
point really has (init arms x seeds, or x ensembles), summed and divided by the worker processes.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from client import Client, Run
from reproduce.runner import Study, load_spec, wait_all

TIMING_EPOCHS = 3
BUDGET_S = 2.5 * 3600  # `--scale seed` on a 2-core machine
STACKED = ("plain_mlp", "telescope_mlp", "resnet_mlp", "highway_mlp", "dense_skip_mlp", "skip_layer_mlp")


def _ensembled(spec: dict[str, Any], ensemble: bool) -> bool:
    """Whether the service may train this spec's seeds as one stacked ensemble (the worker's spec rule;
    it can still decline for a model without a stacked forward, which `point_plan` sees)."""
    return ensemble and spec["model"]["family"] in STACKED and "skip_star" not in spec["train"] \
        and spec["model"].get("stochastic_depth", 1.0) >= 1.0


def timing_spec(spec: dict[str, Any], ensemble: bool) -> dict[str, Any]:
    t = json.loads(json.dumps(spec))
    t["name"] = spec["name"] + " (timing)"
    t["train"].update(epochs=TIMING_EPOCHS, log_every=1, checkpoint_every=TIMING_EPOCHS)
    sweep = dict(t.get("sweep") or {})
    if "model.init" in sweep:
        t["model"]["init"] = sweep.pop("model.init")[0]
    t["sweep"] = sweep or None
    if t["sweep"] is None:
        t.pop("sweep")
    if not _ensembled(spec, ensemble):
        t["seeds"] = spec["seeds"][:1]
    return t


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _epochs(c: Client, run: Run) -> list[float]:
    return [p.value for p in c.metric_history(run.id, "epoch_time") if p.value is not None]


def _epoch_s(hist: list[float]) -> float:
    return statistics.median(hist[1:] or hist)  # after the first epoch (warm-up)


def jobs_plan(timed: list[tuple[list[float], float, float, int]], epochs: int) -> tuple[float, float, bool]:
    """(seconds per epoch of the slowest job, planned seconds, any stacked) of one sweep point from its
    timing runs, each (epoch_time history, started_at, finished_at, ensemble size) in seconds. A run
    that trained in a stacked ensemble of k seeds (its summary's `ensemble_size`) is 1/k of one job:
    its epoch timer is the ensemble's. Every other run is a job of its own (seeds that two worker
    processes claim at the same moment can split into an ensemble and a lone run, as they would in
    the real run). Per job: fixed cost (its wall time minus its timed epochs) + `epochs` x its epoch time."""
    def fixed(run: tuple[list[float], float, float, int]) -> float:
        return max(0.0, run[2] - run[1] - TIMING_EPOCHS * _epoch_s(run[0]))

    # seeds a worker claimed together but trained one by one share a start time, so a lone run's
    # wall can hold its siblings' too: the lone runs' fixed cost is the shortest of theirs
    lone = [r for r in timed if r[3] <= 1]
    lone_fixed = min((fixed(r) for r in lone), default=0.0)
    planned, epoch_s = 0.0, []
    for run in timed:
        epoch, k = _epoch_s(run[0]), max(1, run[3])
        planned += ((lone_fixed if k == 1 else fixed(run)) + epochs * epoch) / k
        epoch_s.append(epoch)
    return max(epoch_s, default=0.0), planned, len(lone) < len(timed)


def point_plan(c: Client, runs: list[Run], epochs: int, seeds: int) -> tuple[float, float, bool]:
    """`jobs_plan` of one sweep point's timing runs; where the timing trained fewer seeds than the
    study has (families that do not stack train one seed), the measured jobs stand for the others."""
    timed = [(_epochs(c, r), _t(r.started_at), _t(r.finished_at), int(r.summary.get("ensemble_size") or 1))
             for r in runs]
    epoch, planned, stacked = jobs_plan(timed, epochs)
    return epoch, planned * seeds / max(1, len(runs)), stacked


def measure(c: Client, bases: list[str], scale: str, concurrency: int, ensemble: bool,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    studies = {}
    for base in dict.fromkeys(bases):
        spec = load_spec(base, scale)
        studies[base] = Study(base, base, spec, c.submit(timing_spec(spec, ensemble)), client=c)
    log(f"timing {len(studies)} studies at {TIMING_EPOCHS} epochs each")
    wait_all(c, studies, 3600.0, log)
    rows, total = [], 0.0
    for base, s in studies.items():
        spec = s.spec
        arms = len((spec.get("sweep") or {}).get("model.init") or [None])
        planned, epochs_s, stacked = 0.0, [], []
        for params in s.points():
            runs = [r for r in s.exp.runs if r.params == params and r.status == "succeeded"]
            if not runs:
                continue
            epoch, p, st = point_plan(c, runs, spec["train"]["epochs"], len(spec["seeds"]))
            epochs_s.append(epoch)
            stacked.append(st)
            planned += arms * p
        failed = [r.id for r in s.exp.runs if r.status != "succeeded"]
        rows.append({"study": base, "points": len(s.points()) * arms, "seeds": len(spec["seeds"]),
                     "ensemble": any(stacked), "epochs": spec["train"]["epochs"],
                     "epoch_s_min": min(epochs_s, default=None), "epoch_s_max": max(epochs_s, default=None),
                     "planned_s": planned, "failed": failed})
        total += planned
        log(f"  {base}: {len(s.points()) * arms} points x {len(spec['seeds'])} seeds, epoch "
            f"{min(epochs_s, default=0):.3f}-{max(epochs_s, default=0):.3f} s -> {planned / 60:.1f} min of training")
    return {"scale": scale, "concurrency": concurrency, "ensemble_on_cpu": ensemble, "rows": rows,
            "sequential_s": total, "planned_s": total / max(1, concurrency)}


def write(plan: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"plan_{plan['scale']}.json"
    path.write_text(json.dumps(plan, indent=1) + "\n")
    return path


def read(out_dir: Path, scale: str) -> dict[str, Any] | None:
    path = out_dir / f"plan_{scale}.json"
    return json.loads(path.read_text()) if path.exists() else None


def over_budget(plan: dict[str, Any], budget_s: float = BUDGET_S) -> list[str]:
    """The studies that do not fit: dropping the costliest first until the rest fits the budget."""
    rows = sorted(plan["rows"], key=lambda r: -r["planned_s"])
    left, out = plan["planned_s"], []
    for r in rows:
        if left <= budget_s:
            break
        out.append(r["study"])
        left -= r["planned_s"] / max(1, plan["concurrency"])
    return out


def verdict_lines(plan: dict[str, Any], budget_s: float = BUDGET_S) -> list[str]:
    drop = over_budget(plan, budget_s)
    head = (f"planned {plan['planned_s'] / 3600:.2f} h ({plan['sequential_s'] / 3600:.2f} h of runs over "
            f"{plan['concurrency']} worker process(es), ensembles {'on' if plan['ensemble_on_cpu'] else 'off'}) "
            f"against a budget of {budget_s / 3600:.1f} h")
    if not drop:
        return [head + ": fits."]
    return [head + ": does not fit; without " + ", ".join(drop) + " the rest would."]


def table(plan: dict[str, Any]) -> list[str]:
    """The plan as Markdown table rows (for the report's header)."""
    lines = ["| study | points | seeds | ensemble | epochs | s/epoch | planned min |", "|---|---|---|---|---|---|---|"]
    for r in plan["rows"]:
        ep = "n/a" if r["epoch_s_min"] is None else f"{r['epoch_s_min']:.3f}-{r['epoch_s_max']:.3f}"
        lines.append(f"| {r['study']} | {r['points']} | {r['seeds']} | {'yes' if r['ensemble'] else 'no'} | "
                     f"{r['epochs']} | {ep} | {r['planned_s'] / 60:.1f} |")
    return lines
