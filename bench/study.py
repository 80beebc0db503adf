"""A study through the service vs the plain PyTorch script a user would write for it.

The study: the seed-000 figure-4 sweep (`examples/specs/000_fig4_depth_error.json`: plain MLP,
width 64, 100 epochs, batch 32, the depth_error probe, 3 seeds) and the figure-1/2 telescope runs
(`000_fig1_telescope_skip_ablation.json`, `000_fig2_telescope_weight_magnitude.json`: depth 50,
both inits) at reduced epochs. By default a stated subset keeps one paired measurement under
10 minutes on a 2-core machine: fig 4 at depths 2, 8, 20 with init `default` (9 runs of
100 epochs), figs 1/2 at 5 epochs (4 runs); `--depths all --epochs-tele N` for more.

Side A, the script: one fresh `python` process (`--script`) that trains the same runs one after
another, torch on every core (threads = cpu_count; also with 1 thread, which is faster for
these small models on a loaded machine), data, model, Adam, shuffled mini-batches, and
at the end what the probes compute (Monte-Carlo error on 1000 points; mean |W| per layer every
10 epochs; the skip ablation forwards). Its wall time includes the interpreter and torch import.

Side B, the service: `skipcore serve` already running (started before the clock, as a user's
service is), with the given SKIPCORE_WORKER_CONCURRENCY and SKIPCORE_ENSEMBLE_ON_CPU; the clock runs
from the first POST of the example specs (with the subset applied) to the last run's finished_at.

Every side runs once per round, in reverse order the next round; the ratio is script / service (> 1: the service is
faster). Also printed per setting: the runs' summed durations (started_at -> finished_at) against
the script's per-run times (per-run overhead), and against wall x concurrency (parallel use).

    .venv/bin/python bench/study.py [--rounds 2] [--settings c1,c2,c1e,c2e] [--script-threads 0,1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPECS = ROOT / "examples" / "specs"
SETTINGS = {  # name: (worker concurrency, None: the service's default; seed ensembles on CPU)
    "default": (None, False), "c1": (1, False), "c2": (2, False), "c1e": (1, True), "c2e": (2, True),
}
TERMINAL = {"succeeded", "failed", "cancelled"}


def study_specs(depths: list[int] | None, inits: list[str], tele_epochs: int) -> list[dict]:
    """The example specs with the subset applied (the same runs the script trains)."""
    fig4 = json.loads((SPECS / "000_fig4_depth_error.json").read_text())
    if depths is not None:
        fig4["sweep"]["model.depth"] = depths
    fig4["sweep"]["model.init"] = inits
    out = [fig4]
    for name in ("000_fig1_telescope_skip_ablation.json", "000_fig2_telescope_weight_magnitude.json"):
        spec = json.loads((SPECS / name).read_text())
        every = max(1, min(10, tele_epochs))
        spec["train"].update(epochs=tele_epochs, log_every=every, checkpoint_every=every)
        for p in spec["probes"]:
            if "every" in p:
                p["every"] = every
        out.append(spec)
    return out


def expand(specs: list[dict]) -> list[dict]:
    """One entry per run: family, depth, width, init, epochs, batch, seed, probes (as the service expands)."""
    runs = []
    for spec in specs:
        sweep = spec.get("sweep", {})
        keys = list(sweep)
        combos = [{}]
        for k in keys:
            combos = [{**c, k: v} for c in combos for v in sweep[k]]
        for combo in combos:
            model = {**spec["model"], **{k.split(".", 1)[1]: v for k, v in combo.items()}}
            for seed in spec["seeds"]:
                runs.append({"family": model["family"], "depth": model["depth"], "width": model["width"],
                             "init": model["init"], "epochs": spec["train"]["epochs"],
                             "batch": spec["train"]["batch_size"], "lr": spec["train"]["lr"], "seed": seed,
                             "probes": [p["name"] for p in spec["probes"]]})
    return runs


# --- side A: the script ------------------------------------------------------------------------

def script_main(plan: Path, threads: int) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from skipcore.models.telescope import TelescopeMLP

    torch.set_num_threads(threads)
    times = []
    for r in json.loads(plan.read_text()):
        t0 = time.perf_counter()
        torch.manual_seed(r["seed"])
        g = torch.Generator().manual_seed(r["seed"])
        x = -2 * math.pi + 4 * math.pi * torch.rand(1024, 1, generator=g)
        y = torch.sin(x)
        if r["family"] == "plain_mlp":
            dims = [1] + [r["width"]] * (r["depth"] - 1)
            layers: list[nn.Module] = []
            for a, b in zip(dims, dims[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            model = nn.Sequential(*layers, nn.Linear(dims[-1], 1))
        else:
            model = TelescopeMLP(in_features=1, out_features=1, depth=r["depth"], width=r["width"], init="default")
        if r["init"] == "he":
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        opt = torch.optim.Adam(model.parameters(), lr=r["lr"])
        bs = r["batch"] or len(x)
        mags = []
        for epoch in range(r["epochs"]):
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), bs):
                idx = perm[i : i + bs]
                loss = F.mse_loss(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if "weight_magnitude" in r["probes"] and (epoch + 1) % min(10, r["epochs"]) == 0:
                mags.append([m.weight.abs().mean().item() for m in model.modules() if isinstance(m, nn.Linear)])
        with torch.no_grad():
            if "depth_error" in r["probes"]:
                xt = -2 * math.pi + 4 * math.pi * torch.rand(1000, 1, generator=torch.Generator().manual_seed(0))
                float(((torch.sin(xt) - model(xt)) ** 2).mean())
            if "skip_ablation" in r["probes"]:
                grid = torch.linspace(-2 * math.pi, 2 * math.pi, 200).unsqueeze(1)
                for k in (0, 12, 25, 38, 50):
                    for first in (True, False):
                        keep = [(i < k) if first else (i >= r["depth"] - k) for i in range(r["depth"])]
                        model.set_skips(keep)
                        model(grid)
                model.set_skips(True)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"run_seconds": times, "threads": torch.get_num_threads()}))


def run_script(runs: list[dict], tmp: Path, threads: int) -> dict:
    plan = tmp / "plan.json"
    plan.write_text(json.dumps(runs))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--script", str(plan), "--threads", str(threads)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall": wall, "busy": sum(res["run_seconds"]), "runs": len(res["run_seconds"])}


# --- side B: the service -----------------------------------------------------------------------

def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_service(url: str, specs: list[dict], timeout: float = 1800.0) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as c:
        t0 = time.time()
        ids = []
        for spec in specs:
            r = c.post("/v1/experiments", json=spec)
            r.raise_for_status()
            ids.append(r.json()["id"])
        deadline = time.monotonic() + timeout
        exps = []
        for eid in ids:
            while True:
                exp = c.get(f"/v1/experiments/{eid}").json()
                if exp["status"] in TERMINAL:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"experiment {eid} still {exp['status']}")
                time.sleep(0.25)
            exps.append(exp)
    runs = [r for e in exps for r in e["runs"]]
    bad = [(r["id"], r["status"], r["error"]) for r in runs if r["status"] != "succeeded"]
    if bad:
        raise RuntimeError(f"runs did not succeed: {bad[:3]}")
    end = max(_ts(r["finished_at"]) for r in runs)
    busy = sum(_ts(r["finished_at"]) - _ts(r["started_at"]) for r in runs)
    grouped = sum(1 for r in runs if (r["summary"] or {}).get("ensemble_size", 1) > 1)
    return {"wall": end - t0, "busy": busy, "runs": len(runs), "in_ensembles": grouped}


def measure(settings: list[str], script_threads: list[int], rounds: int, specs: list[dict], runs: list[dict],
            tmp: Path) -> dict:
    """Every setting's service started at once (idle until fed); each round runs every side once,
    in the reverse order of the round before (A B ... B A ...)."""
    from contextlib import ExitStack

    from bench._service import service, tiny_spec

    sides = [f"script{t}" for t in script_threads] + settings
    times: dict[str, list[dict]] = {s: [] for s in sides}
    with ExitStack() as stack:
        urls = {}
        for name in settings:
            conc, ens = SETTINGS[name]
            env = {"SKIPCORE_ENSEMBLE_ON_CPU": "true" if ens else "false"}
            urls[name] = stack.enter_context(service("embedded", concurrency=conc, extra_env=env)).url
        for url in urls.values():  # warm each worker (torch import, first run)
            run_service(url, [tiny_spec("warm-up")])
        for i in range(rounds):
            for side in (sides if i % 2 == 0 else sides[::-1]):
                r = (run_script(runs, tmp, int(side[6:])) if side.startswith("script")
                     else run_service(urls[side], specs))
                times[side].append(r)
                print(f"  round {i} {side:>8}: wall {r['wall']:.1f} s, runs {r['runs']}, summed run time "
                      f"{r['busy']:.1f} s" + (f", {r['in_ensembles']} in ensembles" if "in_ensembles" in r else ""),
                      flush=True)
    return times


def report(times: dict[str, list[dict]], settings: list[str], script_threads: list[int]) -> None:
    from persistence.settings import auto_concurrency

    med = statistics.median
    print("\nratio = script wall / service wall, paired by round (> 1: the service is faster)")
    for t in script_threads:
        a = times[f"script{t}"]
        print(f"script, {t} torch thread(s): wall {med([x['wall'] for x in a]):.1f} s "
              f"[{min(x['wall'] for x in a):.1f}, {max(x['wall'] for x in a):.1f}]")
        for name in settings:
            b = times[name]
            conc, ens = SETTINGS[name]
            shown = conc or f"auto = {auto_concurrency('cpu')}"
            conc = conc or auto_concurrency("cpu")
            rs = sorted(x["wall"] / y["wall"] for x, y in zip(a, b))
            over = med([y["busy"] for y in b]) / med([x["busy"] for x in a])
            use = med([y["busy"] for y in b]) / (med([y["wall"] for y in b]) * conc)
            print(f"  vs {name:>7} (concurrency {shown}, ensembles on CPU {str(ens).lower()}): median {med(rs):.2f}x "
                  f"[min {rs[0]:.2f}, max {rs[-1]:.2f}, n={len(rs)}]; service wall {med([y['wall'] for y in b]):.1f} s; "
                  f"summed run time service/script {over:.2f}; worker busy fraction {use:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of every side")
    ap.add_argument("--settings", default="default,c2e", help="default (the service's own settings), c1 c2 (concurrency) c1e c2e (+ CPU ensembles)")
    ap.add_argument("--script-threads", default="0,1", help="torch threads of the script (0: every core)")
    ap.add_argument("--depths", default="2,8,20", help="fig-4 depths, or 'all' (the spec's 15)")
    ap.add_argument("--inits", default="default", help="fig-4 model.init values (the spec: default,he)")
    ap.add_argument("--epochs-tele", type=int, default=5, help="epochs of the fig-1/2 telescope runs")
    args = ap.parse_args()
    if args.script:
        return script_main(args.script, args.threads or os.cpu_count() or 1)
    depths = None if args.depths == "all" else [int(d) for d in args.depths.split(",")]
    specs = study_specs(depths, args.inits.split(","), args.epochs_tele)
    runs = expand(specs)
    settings = args.settings.split(",")
    threads = [int(t) or (os.cpu_count() or 1) for t in args.script_threads.split(",")]
    print(f"study: {len(runs)} runs (fig 4 depths {args.depths}, init {args.inits}, 3 seeds, 100 epochs; "
          f"figs 1/2 telescope depth 50 at {args.epochs_tele} epochs), cpu_count {os.cpu_count()}", flush=True)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="skipcore-study-") as tmp:
        times = measure(settings, threads, args.rounds, specs, runs, Path(tmp))
    report(times, settings, threads)


if __name__ == "__main__":
    main()
