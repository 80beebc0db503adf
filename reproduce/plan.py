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


def point_plan(c: Client, runs: list[Run], epochs: int, seeds: int) -> tuple[float, float, bool]:
    """(seconds per epoch of one job, planned seconds for `seeds` seeds at `epochs` epochs, stacked) of one
    sweep point from its timing runs. Runs that trained as one stacked ensemble share one epoch timer, so
    their `epoch_time` histories are identical: one job for all seeds. Otherwise each seed is a job of its
    own (fixed cost: the shortest wall time minus its epochs; the measured seeds stand for the others)."""
    hists = [_epochs(c, r) for r in runs]
    if len(runs) > 1 and all(h == hists[0] for h in hists):
        epoch = _epoch_s(hists[0])
        wall = max(_t(r.finished_at) for r in runs) - min(_t(r.started_at) for r in runs)
        return epoch, max(0.0, wall - TIMING_EPOCHS * epoch) + epochs * epoch, True
    per = [_epoch_s(h) for h in hists]
    # seeds the worker claimed together but trained one by one share a start time: the shortest wall
    # is the one that holds only its own run
    fixed = min(max(0.0, _t(r.finished_at) - _t(r.started_at) - TIMING_EPOCHS * e) for r, e in zip(runs, per))
    epoch = statistics.mean(per)
    return epoch, seeds * (fixed + epochs * epoch), False


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
