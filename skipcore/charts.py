"""The sweep chart of an experiment: the mean over seeds against the (single numeric) sweep value,
as a small self-contained SVG, with its 95% CI where a point has 3 seeds or more and each seed
below that. Pure Python (no matplotlib): the worker draws it once an experiment's runs have all
finished and stores it; the report page inlines the stored bytes.

`sweep_svg(points, metric)` takes points as `skipcore.stats.by_sweep_point` gives them;
`metric_columns(finals)` names the report's metric columns and `chart_metric(columns)` the one the
chart shows. `e`, `num` and `fixed` are the escaping and number formats the report shares.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable, Optional, Sequence

from skipcore.stats import BOOKKEEPING, finite_number

PREFERRED = ("train_loss", "val_loss", "train_acc", "val_acc", "val_iou", "best_val_loss")
TIME = "time_s"  # the training loop's own clock, summed over a run's attempts (probes and figures excluded)
SKIP = BOOKKEEPING | {"epochs_run", "lr", "epoch_time", "step_time", "phase", TIME}  # not a metric column
MAX_METRIC_COLUMNS = 10
MAIN_SWEEP_METRICS = ("depth_error.mc_error", "val_loss", "val_acc")
MIN_CI_SEEDS = 3  # below this many seeds the sweep chart shows each seed instead of a 95% CI


def e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def num(v: Any) -> str:
    x = finite_number(v)
    return "—" if x is None else (f"{x:.4g}" if x != int(x) or abs(x) >= 1e6 else str(int(x)))


def fixed(v: float, decimals: int) -> str:
    return f"{round(v, decimals):.{max(decimals, 0)}f}".replace("-", "−")


def metric_columns(finals: Iterable[dict[str, Any]]) -> list[str]:
    """The metric columns of an experiment's tables (the preferred ones first, at most 10), from
    each run's final numbers."""
    present = {k for f in finals for k in f if k not in SKIP}
    first = [k for k in PREFERRED if k in present]
    return (first + sorted(present - set(first)))[:MAX_METRIC_COLUMNS]


def chart_metric(columns: Sequence[str]) -> Optional[str]:
    """The metric of the sweep chart: the first of MAIN_SWEEP_METRICS among the columns, else the first column."""
    return next((m for m in MAIN_SWEEP_METRICS if m in columns), columns[0] if columns else None)


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], int]:
    """Ticks at multiples of a 1, 2 or 5 × 10^k step covering [lo, hi], and the decimals they need."""
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [k * step for k in range(first, last + 1)], max(0, -math.floor(math.log10(step) + 1e-9))


def _y_axis(values: list[float], nonnegative: bool) -> tuple[bool, list[float], list[str]]:
    """(log scale?, tick values, tick labels): decades for a positive quantity over 30x or more,
    else round linear steps; a non-negative quantity's axis never goes below 0."""
    vmin, vmax = min(values), max(values)
    if nonnegative and vmin > 0 and vmax / vmin > 30:
        ticks = [10.0 ** k for k in range(math.floor(math.log10(vmin)), math.ceil(math.log10(vmax)) + 1)]
        return True, ticks, [f"{t:g}" if 1e-4 <= t < 1e6 else f"{t:.0e}" for t in ticks]
    if vmax == vmin:
        vmin, vmax = vmin - (abs(vmin) or 1) / 2, vmax + (abs(vmax) or 1) / 2
    ticks, decimals = nice_ticks(max(vmin, 0.0) if nonnegative else vmin, vmax)
    return False, ticks, [fixed(t, decimals) for t in ticks]


def sweep_svg(points: list, metric: str) -> str:
    """Mean over seeds against the (single numeric) sweep value as inline SVG, with its 95% CI where a
    point has 3 seeds or more and the seeds themselves below that; '' when not drawable. A quantity
    no seed has below 0 is not drawn below 0 (its CI is clipped there)."""
    keys = {k for p, *_ in points for k in p}
    if len(keys) != 1:
        return ""
    key = keys.pop()
    pts = sorted(((finite_number(p.get(key)), s[metric]) for p, _, _, s in points
                  if finite_number(p.get(key)) is not None and s[metric]["mean"] is not None), key=lambda t: t[0])
    if len(pts) < 2:
        return ""
    nonneg = all(v >= 0 for _, s in pts for v in s.get("values", [])) and all(s["mean"] >= 0 for _, s in pts)
    ci = {x: (max(s["ci95"][0], 0.0) if nonneg else s["ci95"][0], s["ci95"][1])
          for x, s in pts if s["ci95"] and s["n"] >= MIN_CI_SEEDS}
    seeds = [(x, v) for x, s in pts if x not in ci for v in s.get("values", [])]
    ys = [s["mean"] for _, s in pts] + [v for b in ci.values() for v in b] + [v for _, v in seeds]
    log, ticks, labels = _y_axis(ys, nonneg)
    W, H, L, R, T, B = 720, 300, 70, 20, 30, 45
    f = math.log10 if log else (lambda v: v)
    y0, y1 = f(ticks[0]), f(ticks[-1])
    xs = [x for x, _ in pts]
    X = lambda v: L + (v - xs[0]) / (xs[-1] - xs[0]) * (W - L - R)  # noqa: E731
    Y = lambda v: H - B - (f(v) - y0) / (y1 - y0) * (H - T - B)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-weight="600">{e(metric)} by {e(key)} '
           f"(mean over seeds{', log scale' if log else ''})</text>",
           f'<text x="{W - R}" y="{T + 4}" text-anchor="end" class="muted">● mean · | 95% CI (n ≥ {MIN_CI_SEEDS})'
           f" · ○ each seed (n &lt; {MIN_CI_SEEDS}: no CI)</text>"]
    for t, label in zip(ticks, labels):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e6e9ed"/>'
                   f'<text class="ytick" x="{L - 6}" y="{Y(t) + 4:.1f}" text-anchor="end">{label}</text>')
    for x, _ in pts:
        out.append(f'<text x="{X(x):.1f}" y="{H - B + 16}" text-anchor="middle">{num(x)}</text>')
    out += [f'<line class="ci" x1="{X(x):.1f}" x2="{X(x):.1f}" y1="{Y(lo):.1f}" y2="{Y(hi):.1f}" '
            f'stroke="#1f77b4" stroke-width="1.5"/>' for x, (lo, hi) in ci.items()]
    line = " ".join(f"{X(x):.1f},{Y(s['mean']):.1f}" for x, s in pts)
    out.append(f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    out += [f'<circle cx="{X(x):.1f}" cy="{Y(s["mean"]):.1f}" r="4" fill="#1f77b4"/>' for x, s in pts]
    out += [f'<circle class="seed" cx="{X(x):.1f}" cy="{Y(v):.1f}" r="4" fill="none" stroke="#d95f02" '
            f'stroke-width="1.5"/>' for x, v in seeds]
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="#555"/>'
               f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="#555"/>'
               f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">{e(key)}</text>'
               f'<text x="14" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(T + H - B) / 2})">{e(metric)}</text></svg>')
    return "".join(out)
