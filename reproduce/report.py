"""Write docs/reproductions.md: a summary table, the verdict rule, then one section per claim."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from reproduce import plan as planner
from reproduce import setup, verdict
from reproduce.runner import Study, sizes

SCALES = {
    "small": "`--scale small`: the `*_small.json` specs (the full specs with fewer epochs; generated stand-ins "
             "and smaller networks for EMNIST/CIFAR-10), each run with seeds 0, 1, 2",
    "full": "`--scale full`: the full-size specs (the seeds' sizes), each with at least seeds 0, 1, 2",
    "smoke": "`--scale smoke`: the small specs cut to at most 20 epochs (CI only; numbers mean nothing)",
    "seed": "`--scale seed`: every study on generated or in-package data (claims 1-4, 7, 12, 13) at the seed's own "
            "size (the full specs; fig 4 at every depth 2..50), 5 seeds; the CNN/ResNet claims on their reduced "
            "`_small` specs with stand-in images, 3 seeds",
}

LIMITS = {"small": [
    "**Scale and limits.** One rule made the small specs, decided from timing alone (a few epochs of each "
    "configuration timed on this machine, then sizes fitted to a ~20-25 min budget on a quiet 2-core machine), "
    "never from which size gives which answer: keep the full spec's architecture (depth, width, activation, "
    "init), data size, optimizer, lr and batch size, and reduce only the number of epochs. For the MLP claims "
    "on generated data (1-4, 7: sine and linear data, nothing to download) that is all that changed: the "
    "telescope and ResNet-V2 MLPs of claims 1-2 train 400 of the seed's 2000 epochs (1/5), the fig 4 depth "
    "sweep keeps all its 15 depths 2..50 and its 100 epochs, the longer-training sweep 200 of its 1000 "
    "epochs, claim 4 20 of 100 (its measurement is the first update), claim 7 1500 of 3000. EMNIST and "
    "CIFAR-10 cannot be downloaded on this machine, so claims 5, 6 and 8-11 train on `fake_images` "
    "(generated images with learnable class-dependent patterns, sized as listed); there the full spec's "
    "training recipe (optimizer, lr, momentum, weight decay, schedule, batch size, skip* rule) and, for the "
    "MLPs and CNNs of seed 001, its architecture are kept with 1/3 to 1/7 of the epochs, while the CIFAR "
    "ResNets (depth 20-110 in the full specs) are cut to depth 8/20 at widths 8-16-32 with 12 epochs, "
    "because even one full-size epoch does not fit. Each spec's `description` says what was reduced and by "
    "what factor. A verdict here is a verdict at this scale: a claim that does not reproduce here may still "
    "hold at the seed's size. The full-scale report (`--scale full`, the seeds' sizes, the real data sets "
    "under `$SKIPCORE_DATA_ROOT`) needs a GPU box and was not run on this 2-core machine.", ""],
    "seed": [
    "**Scale and limits.** Every study whose data is generated or ships inside a package runs at the seed's own "
    "set-up: the depth-50 width-64 telescope and seed-V2 MLPs for 2000 epochs with Adam (claims 1 and 2 read one "
    "telescope experiment with both probes), the plain-MLP sweep at every depth 2..50 for 100 epochs plus the "
    "longer-training sweep, seed 002's skip-layer study at its full length, and the real-data arms on digits and "
    "diabetes; PyTorch's default init as the seed had it, He (and identity where it applies) as further arms; 5 "
    "seeds. The CNN/ResNet claims stay at their reduced `_small` size on generated stand-in images (EMNIST and "
    "CIFAR-10 are not on this machine, and one full-size epoch does not fit): their verdicts are 'not decided at "
    "this scale' with the direction they leaned, and their 3 seeds decide no verdict.", ""]}


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bare | (as in mean |W|) would split the cell."""
    return str(text).replace("|", "\\|")


def _service(svc: dict) -> str:
    if not svc.get("embedded"):
        return "an external service (its worker settings are its own)"
    ens = ("on: the MLP seeds of a sweep point train as one stacked ensemble, for throughput; a stacked seed "
           "differs from a lone run only by floating-point summation order, which no verdict (a mean and CI over "
           "seeds) can see, and the CNNs of the timing claims never stack") if svc.get("ensemble_on_cpu") else \
        "off: every seed trains alone, bit-identically whatever its siblings"
    return f"embedded, {svc.get('concurrency', 1)} worker process(es); SKIPCORE_ENSEMBLE_ON_CPU {ens}"


def _plan(meta: dict) -> list[str]:
    p = meta.get("plan")
    if not p:
        return ["- planned wall time: no plan (run with `--plan` first to time every configuration)"]
    return [f"- planned wall time {p['planned_s'] / 60:.1f} min (from `--plan`: {planner.TIMING_EPOCHS} epochs of "
            f"every configuration timed on this machine, extrapolated) against the measured "
            f"{meta['wall_s'] / 60:.1f} min; " + planner.verdict_lines(p)[0], "",
            "<details><summary>the plan</summary>", "", *planner.table(p), "", "</details>"]


def write(path: Path, scale: str, results: list[tuple], studies: dict[str, Study], meta: dict) -> Path:
    """`results`: (claim, outcome, verdict, why, (scale, data)) in claim order."""
    lines = [f"# Reproductions ({scale} scale)", "",
             "Generated by `python -m reproduce` against a running skipcore service (public HTTP API "
             "only); re-running it regenerates this file from fresh runs. Do not edit by hand.", "",
             f"- scale: {SCALES[scale]}",
             f"- generated: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; wall time "
             f"{meta['wall_s'] / 60:.1f} min for {meta['runs']} runs in {len(studies)} experiments",
             f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, {meta.get('device', 'CPU')}; "
             f"load average at start {meta.get('load', '?')} (shared with other users: times are noisy)",
             f"- service: {meta['url']}; {_service(meta.get('service') or {})}", *_plan(meta), "",
             *LIMITS.get(scale, []), "## Summary", "",
             "| # | seed | claim | scale | data | verdict |", "|---|---|---|---|---|---|"]
    for cl, _, v, _, (sc, data) in results:
        lines.append(f"| {cl.number} | {cl.seed} | [{_cell(cl.title)}](#claim-{cl.number}) | {sc} | {_cell(data)} | **{v}** |")
    lines += ["", "## How verdicts are decided", "",
              "The rule was written before any run was looked at and is the same for every claim "
              "(`reproduce/verdict.py`); each claim's thresholds are stated in its section.", ""]
    lines += [ln.strip() if ln.startswith("- ") else "  " + ln.strip() for ln in verdict.__doc__.split("\n")[3:] if ln.strip()]
    lines += ["", "Mean ± half-width is the Student-t 95% CI over seeds; differences are paired by seed (the same "
              "seed gives the same data and initialisation stream in both arms)."]
    for cl, out, v, why, (sc, data) in results:
        lines += ["", f"<a id=\"claim-{cl.number}\"></a>", f"## Claim {cl.number}: {cl.title}", "",
                  f"**Seed {cl.seed}.** {cl.statement}", "", f"**Scale:** {sc}; **data:** {data}.", "",
                  "**Set-up** (the seed's, ours as submitted, and every difference):", "",
                  "| aspect | seed | ours | difference |", "|---|---|---|---|"]
        lines += [f"| {a} | {_cell(x)} | {_cell(y)} | {d} |"
                  for a, x, y, d in setup.rows(cl.seed_setup, [studies[b].spec for b in dict.fromkeys(cl.specs)])]
        lines += ["", "**Specs** (as submitted at this scale):", ""]
        for base in dict.fromkeys(cl.specs):
            s = studies[base]
            lines.append(f"- `{s.file}` — {sizes(s.spec)} — experiment `{s.exp.id}` ({s.exp.status})")
        lines += ["", f"**Rule.** {cl.rule}", "", "**Measured** (mean ± 95% CI over seeds):", "",
                  "| quantity | value |", "|---|---|"]
        lines += [f"| {_cell(what)} | {_cell(val)} |" for what, val in out.measured]
        lines += ["", "**Conditions:**", ""]
        lines += [f"- {state.upper()}: {text}" for text, state in out.conditions]
        for f in out.figures:
            lines += ["", f"![claim {cl.number}](figures/{f.name})"]
        lines += [""] + [f"> {n}" for n in out.notes]
        lines += ["", f"**Verdict: {v}** — {why}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
