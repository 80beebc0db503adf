"""Command line and orchestration of the reproduction report."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional, Sequence

from client import Client
from reproduce import plan as planner
from reproduce import report
from reproduce.claims import BY_NUMBER, CLAIMS
from reproduce.runner import SCALES, reuse, submit_all, wait_all, write_ids
from reproduce.verdict import Outcome, claim_scale, decide


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_claims(text: Optional[str]) -> list[int]:
    if not text:
        return [c.number for c in CLAIMS]
    nums = [int(x) for x in text.replace(" ", "").split(",") if x]
    bad = [n for n in nums if n not in BY_NUMBER]
    if bad:
        raise SystemExit(f"unknown claim number(s) {bad}; claims are {sorted(BY_NUMBER)}")
    return nums


def ensemble_for(scale: str) -> bool:
    """Seed ensembles on CPU (SKIPCORE_ENSEMBLE_ON_CPU) for the scales that train many MLP seeds: a
    stacked seed's numbers differ from a lone run's only by floating-point summation order, which no
    verdict (a mean and CI over seeds) can see; the CNNs of the timing claims never stack."""
    return scale in ("seed", "full")


def default_concurrency(setting: str) -> int:
    """The --serve service's worker processes for a SKIPCORE_WORKER_CONCURRENCY value: a number as
    given; `auto` as the service reads it on a CPU worker, one per usable core, at most 8."""
    text = setting.strip().lower()
    if text != "auto":
        if not text.isdigit() or not 1 <= int(text) <= 64:
            raise SystemExit(f"SKIPCORE_WORKER_CONCURRENCY must be 'auto' or a whole number from 1 to 64, got {setting!r}")
        return int(text)
    return min(len(os.sched_getaffinity(0)), 8)


def plan(url: str, scale: str, out_dir: Path, numbers: list[int], concurrency: int, ensemble: bool,
         api_key: Optional[str] = None) -> Path:
    """Time every configuration of `scale` and write `<out>/plan_<scale>.json`."""
    with Client(url, api_key, timeout=60.0) as c:
        p = planner.measure(c, [b for n in numbers for b in BY_NUMBER[n].specs], scale, concurrency, ensemble, _log)
    path = planner.write(p, out_dir)
    _log("\n".join(planner.table(p) + planner.verdict_lines(p)))
    _log(f"planned wall time {p['planned_s'] / 60:.1f} min ({p['sequential_s'] / 60:.1f} min of runs over "
         f"{concurrency} worker process(es)); wrote {path}")
    return path


def run(url: str, scale: str, out_dir: Path, numbers: list[int], timeout: float = 7200.0,
        api_key: Optional[str] = None, service: Optional[dict] = None, reused: Optional[Path] = None) -> Path:
    """Submit (or, with `reused`, read back the experiments of an earlier run), wait, measure, judge and
    write the report; returns the report's path."""
    claims = [BY_NUMBER[n] for n in numbers]
    figdir = out_dir / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.monotonic()
    with Client(url, api_key, timeout=60.0) as c:
        bases = [b for cl in claims for b in cl.specs]
        studies = reuse(c, bases, scale, reused) if reused else submit_all(c, bases, scale)
        if not reused:
            write_ids(studies, out_dir, scale)
        n_runs = sum(len(s.exp.runs) for s in studies.values())
        _log(f"{'read back' if reused else 'submitted'} {len(studies)} experiments ({n_runs} runs) "
             f"for claims {numbers}; waiting")
        wait_all(c, studies, timeout, _log)
        results = []
        for cl in claims:
            failed = [f for b in cl.specs for f in studies[b].failed]
            try:
                out = cl.evaluate(studies, figdir)
            except Exception as exc:  # noqa: BLE001 - one claim's missing data must not lose the others
                out = Outcome(notes=[f"could not evaluate: {type(exc).__name__}: {exc}"])
            scale_data = claim_scale(cl, studies)
            v, why = decide(cl, out, failed, scale_data)
            if not out.conditions and out.notes:  # could not evaluate: say why, whatever the scale
                why = out.notes[0]
            results.append((cl, out, v, why, scale_data))
            _log(f"claim {cl.number}: {v} — {why}")
    meta = {"wall_s": time.monotonic() - t0, "runs": n_runs, "url": url, "load": load,
            "device": os.environ.get("SKIPCORE_REPRODUCE_DEVICE", "CPU"), "plan": planner.read(out_dir, scale),
            "service": service or {}}
    path = report.write(out_dir / "reproductions.md", scale, results, studies, meta)
    _log(f"wrote {path} in {meta['wall_s'] / 60:.1f} min")
    return path


def _stop_on_sigterm() -> None:
    """SIGTERM (`kill`, a batch system's time limit) ends the script through SystemExit, so the
    `--serve` service it started is stopped on the way out instead of being left running."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reproduce", description=__doc__)
    p.add_argument("--url", default=os.environ.get("SKIPCORE_URL", "http://127.0.0.1:8000"))
    p.add_argument("--api-key", default=os.environ.get("SKIPCORE_API_KEY"))
    p.add_argument("--scale", choices=list(SCALES), default="small")
    p.add_argument("--plan", action="store_true", help="only time every configuration and write plan_<scale>.json")
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--claims", help="comma list of claim numbers (default: all)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the runs (default 2 h; 12 h at --scale seed and full)")
    p.add_argument("--serve", action="store_true", help="start an embedded `skipcore serve` (temporary home)")
    p.add_argument("--home", type=Path,
                   help="with --serve: keep the service's home (database, artefacts) here instead of a temporary one")
    p.add_argument("--reuse", type=Path, metavar="EXPERIMENTS_JSON",
                   help="judge the experiments an earlier run wrote to <out>/experiments_<scale>.json again "
                        "(same service: --url, or --serve --home) instead of training them")
    p.add_argument("--concurrency", type=int, default=None,
                   help="worker processes of the --serve service (default SKIPCORE_WORKER_CONCURRENCY, "
                        "'auto': one per core, at most 8)")
    a = p.parse_args(argv)
    if a.concurrency is None:
        a.concurrency = default_concurrency(os.environ.get("SKIPCORE_WORKER_CONCURRENCY", "auto"))
    numbers = parse_claims(a.claims)
    _stop_on_sigterm()
    ensemble = ensemble_for(a.scale) if a.serve else None
    if a.serve:
        from reproduce.serve import embedded

        ctx = embedded(a.concurrency, ensemble_on_cpu=bool(ensemble), home=a.home)
    else:
        ctx = nullcontext(a.url)
    service = {"embedded": a.serve, "concurrency": a.concurrency, "ensemble_on_cpu": ensemble}
    with ctx as url:
        if a.plan:
            plan(url, a.scale, a.out, numbers, a.concurrency, bool(ensemble), a.api_key)
        else:
            timeout = a.timeout or (43200.0 if a.scale in ("seed", "full") else 7200.0)
            run(url, a.scale, a.out, numbers, timeout, a.api_key, service, reused=a.reuse)
    return 0
