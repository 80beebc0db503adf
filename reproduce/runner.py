"""Submit the claims' specs to a running service and read their results back, through `client` only.

`Study` is one submitted experiment with everything the claims read: its runs grouped by sweep
point and seed, the /aggregate answer, and probe results fetched on demand (cached).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from client import Aggregate, Client, Experiment, Run

SPECS = Path(__file__).resolve().parents[1] / "examples" / "specs"
SCALES = ("smoke", "small", "seed", "full")
SEEDS = [0, 1, 2]  # every claim is measured over at least these three seeds
SEED_SEEDS = [0, 1, 2, 3, 4]  # `--scale seed`: at least five wherever a CI decides a verdict
SMOKE_EPOCHS = 20  # `--scale smoke` (CI): every spec trained this many epochs at most
# data that is generated or ships inside a package: these studies run at the seed's own size at `--scale seed`
IN_PACKAGE = ("sine", "linear_plus_noise", "digits", "diabetes")
# the seed's own sweep where the spec file keeps a coarser one (fig 4: every depth 2..50)
SEED_SWEEPS: dict[str, dict[str, list[Any]]] = {"000_fig4_depth_error": {"model.depth": list(range(2, 51))}}


def spec_path(base: str, scale: str) -> Path:
    """The file of `base` at `scale`: the full spec at `full`, and at `seed` for in-package data; the
    `_small` spec otherwise (the full one where a study has no small variant)."""
    small = SPECS / f"{base}_small.json"
    if scale == "full" or not small.exists():
        return SPECS / f"{base}.json"
    if scale == "seed" and json.loads((SPECS / f"{base}.json").read_text())["data"]["name"] in IN_PACKAGE:
        return SPECS / f"{base}.json"
    return small


def level(base: str, scale: str) -> str:
    """`seed` when the study runs at the seed's own size (the full spec plus `SEED_SWEEPS`), else `reduced`."""
    return "seed" if scale != "smoke" and spec_path(base, scale).name == f"{base}.json" else "reduced"


def load_spec(base: str, scale: str) -> dict[str, Any]:
    """The spec file of `base` at `scale`, with at least three seeds (five for a study at the seed's
    own size, `level` "seed"). `smoke` shrinks the small spec further (epochs, data)
    so CI can run it in seconds; it is never used for the committed report."""
    spec = json.loads(spec_path(base, scale).read_text())
    spec.pop("description", None)
    seeds = SEED_SEEDS if level(base, scale) == "seed" else SEEDS
    if len(spec.get("seeds") or []) < len(seeds):
        spec["seeds"] = list(seeds)
    if level(base, scale) == "seed" and base in SEED_SWEEPS:
        spec["sweep"] = {**(spec.get("sweep") or {}), **SEED_SWEEPS[base]}
    if scale == "smoke":
        spec["train"]["epochs"] = min(spec["train"]["epochs"], SMOKE_EPOCHS)
        spec["train"].pop("checkpoint_every", None)
        spec["train"]["log_every"] = min(spec["train"].get("log_every", 1), SMOKE_EPOCHS)
        spec["name"] = spec["name"] + " (smoke)"
    return spec


@dataclass
class Study:
    base: str
    file: str
    spec: dict[str, Any]
    exp: Experiment
    level: str = "reduced"  # "seed": the seed's own size; "reduced": fewer epochs or a smaller network
    agg: Optional[Aggregate] = None
    client: Optional[Client] = field(default=None, repr=False)
    _probes: dict[tuple[str, str], dict] = field(default_factory=dict, repr=False)

    def points(self) -> list[dict[str, Any]]:
        """The sweep points in sweep order (params dicts)."""
        out: list[dict[str, Any]] = []
        for r in self.exp.runs:
            if r.params not in out:
                out.append(r.params)
        return out

    def runs(self, **params: Any) -> dict[int, Run]:
        """seed -> succeeded run at the sweep point whose params contain `params` (dots as __)."""
        want = {k.replace("__", "."): v for k, v in params.items()}
        return {r.seed: r for r in self.exp.runs if r.status == "succeeded"
                and all(r.params.get(k) == v for k, v in want.items())}

    def probe(self, run: Run, name: str) -> Optional[dict]:
        key = (run.id, name)
        if key not in self._probes:
            p = self.client.probe(run.id, name)
            self._probes[key] = p.result if p.status == "succeeded" else None
        return self._probes[key]

    def values(self, fn: Callable[[Run], Optional[float]], **params: Any) -> dict[int, Optional[float]]:
        """seed -> fn(run) over the succeeded runs of one sweep point."""
        out = {}
        for seed, r in self.runs(**params).items():
            try:
                out[seed] = fn(r)
            except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
                out[seed] = None
        return out

    def train_time(self, **params: Any) -> dict[int, Optional[float]]:
        """seed -> seconds of training: the sum of the run's `step_time` metric (the training loop's
        timer of its training steps alone: shuffle, forward, backward, optimizer step; no validation
        pass, layer statistics, database writes, checkpoints, probes or model building inside it)."""
        def total(run: Run) -> Optional[float]:
            vals = [p.value for p in self.client.metric_history(run.id, "step_time") if p.value is not None]
            return sum(vals) if vals else None
        return self.values(total, **params)

    def summary(self, key: str, **params: Any) -> dict[int, Optional[float]]:
        return self.values(lambda r: r.summary.get(key), **params)

    @property
    def failed(self) -> list[str]:
        return [f"{r.id} ({r.status}: {r.error})" for r in self.exp.runs if r.status != "succeeded"]


def _studies(c: Client, bases: list[str], scale: str, experiment: Callable[[str, dict], Experiment]) -> dict[str, Study]:
    """One Study per base (in order, once each), its experiment from `experiment(base, spec)`."""
    out = {}
    for base in dict.fromkeys(bases):
        spec = load_spec(base, scale)
        out[base] = Study(base, str(spec_path(base, scale).relative_to(SPECS.parent.parent)), spec,
                          experiment(base, spec), level=level(base, scale), client=c)
    return out


def submit_all(c: Client, bases: list[str], scale: str) -> dict[str, Study]:
    return _studies(c, bases, scale, lambda base, spec: c.submit(spec))


def write_ids(studies: dict[str, Study], out_dir: Path, scale: str) -> Path:
    """`<out>/experiments_<scale>.json`: study -> experiment id, what `reuse` reads back."""
    path = out_dir / f"experiments_{scale}.json"
    path.write_text(json.dumps({b: s.exp.id for b, s in studies.items()}, indent=1) + "\n")
    return path


def reuse(c: Client, bases: list[str], scale: str, path: Path) -> dict[str, Study]:
    """The studies of an earlier run of the same scale, read from its service by the ids in `path`
    (`write_ids`) instead of submitted again: the report is judged again without training anything."""
    ids = json.loads(path.read_text())
    missing = [b for b in dict.fromkeys(bases) if b not in ids]
    if missing:
        raise SystemExit(f"{path} has no experiment for {missing}; it holds {sorted(ids)}")
    return _studies(c, bases, scale, lambda base, spec: c.get_experiment(ids[base]))


def wait_all(c: Client, studies: dict[str, Study], timeout: float, log: Callable[[str], None] = print) -> None:
    """Poll every experiment until it finishes; then read each one's /aggregate."""
    deadline, pending, last = time.monotonic() + timeout, set(studies), 0.0
    while pending:
        for base in sorted(pending):
            exp = c.get_experiment(studies[base].exp.id)
            studies[base].exp = exp
            if exp.finished:
                pending.discard(base)
                log(f"  {exp.status:9s} {base} ({len(exp.runs)} runs)")
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"still running after {timeout:.0f}s: {sorted(pending)}")
        if pending and time.monotonic() - last > 60:
            last = time.monotonic()
            runs = [r for s in studies.values() for r in s.exp.runs]
            done = sum(r.finished for r in runs)
            log(f"  ... {len(pending)} experiments running; {done}/{len(runs)} runs finished")
        if pending:
            time.sleep(2.0)
    for s in studies.values():
        s.agg = c.aggregate(s.exp.id)


def sizes(spec: dict[str, Any]) -> str:
    """One line naming what was trained: model, data, training length, sweep, seeds."""
    m, d, t = spec["model"], spec["data"], spec["train"]
    model = ", ".join(f"{k}={v}" for k, v in m.items() if k not in ("activation",))
    data = ", ".join(f"{k}={v}" for k, v in d.items() if k in ("name", "n_train", "image_size", "n_classes",
                                                                 "nonlinear", "noise"))
    train = f"{t['optimizer']} lr={t['lr']}, {t['epochs']} epochs, batch {t.get('batch_size') or 'full'}"
    sweep = "; sweep " + ", ".join(f"{k} ∈ {v}" for k, v in (spec.get("sweep") or {}).items()) if spec.get("sweep") else ""
    return f"{model} | {data} | {train}{sweep} | seeds {spec['seeds']}"
