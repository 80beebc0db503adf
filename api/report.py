"""The experiment report as one self-contained HTML page (inline CSS, no scripts, no external assets).

Pure functions from rows to escaped HTML: `render(page)` with a `ReportPage` the route fills in.
Every value from the database or the spec goes through `e()` (html.escape). Figures are the PNGs
the worker stored, referenced by signed artifact URLs; the sweep chart is inline SVG drawn here
(no matplotlib in the API).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from api.stats import BOOKKEEPING, finite_number, summarize

PREFERRED = ("train_loss", "val_loss", "train_acc", "val_acc", "val_iou", "best_val_loss")
TIME = "time_s"  # the training loop's own clock, summed over a run's attempts (probes and figures excluded)
SKIP = BOOKKEEPING | {"epochs_run", "lr", "epoch_time", "phase", TIME}  # not a metric column
WIDE = {"skip_ablation", "weight_magnitude", "block_lesion", "l1_linearity"}  # figures with two panels
MAX_METRIC_COLUMNS = 10
MAIN_SWEEP_METRICS = ("depth_error.mc_error", "val_loss", "val_acc")
MIN_CI_SEEDS = 3  # below this many seeds the sweep chart shows each seed instead of a 95% CI

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
h3{font-size:15px;margin:0}
.meta{color:#56606b;margin:0 0 8px}.meta span{margin-right:16px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#6c757d}
.succeeded{background:#2e7d32}.failed{background:#c62828}.running,.cancelling{background:#1565c0}
.queued{background:#6c757d}.cancelled{background:#8d6e63}
table{border-collapse:collapse;background:#fff;font-size:13px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{border:1px solid #e1e5ea;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f4;position:sticky;top:0}td.l,th.l{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
details{background:#fff;margin:10px 0;padding:8px 12px;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
summary{cursor:pointer}summary h3{display:inline}
.figs{display:flex;flex-wrap:wrap;gap:14px;margin-top:10px}
figure{margin:0;flex:0 1 560px;max-width:100%}figure.wide{flex:0 1 1100px}figure img{width:100%;height:auto;border:1px solid #e1e5ea;background:#fff}
figcaption{font-size:12px;color:#56606b}figcaption a{margin-left:8px}
pre{background:#fff;padding:12px;border-radius:6px;overflow-x:auto;font-size:12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.err{color:#c62828}.muted{color:#7a838c}svg text{font:11px system-ui,sans-serif;fill:#1d232a}
"""


def e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def num(v: Any) -> str:
    x = finite_number(v)
    return "—" if x is None else (f"{x:.4g}" if x != int(x) or abs(x) >= 1e6 else str(int(x)))


def ci_decimals(half: float, digits: int = 2) -> int:
    """Decimals that keep `digits` significant digits of a CI half-width (negative: round to tens...)."""
    return digits - 1 - math.floor(math.log10(half))


def fixed(v: float, decimals: int) -> str:
    return f"{round(v, decimals):.{max(decimals, 0)}f}".replace("-", "−")


def ci_text(mean: float, lo: float, hi: float) -> tuple[str, str]:
    """`mean ± half` and `[lo, hi]` rounded to the CI's precision (2 significant digits of the half-width),
    so no digit is printed that the spread across seeds does not support."""
    half = (hi - lo) / 2
    if not half > 0:
        return f"{num(mean)} ± 0", f"[{num(lo)}, {num(hi)}]"
    d = ci_decimals(half)
    if d <= 6 and abs(mean) < 1e6:
        return f"{fixed(mean, d)} ± {fixed(half, d)}", f"[{fixed(lo, d)}, {fixed(hi, d)}]"
    exp = math.floor(math.log10(max(abs(mean), half)))
    k, scale = d + exp, 10.0 ** exp
    tail = f" × 10<sup>{exp}</sup>".replace("-", "−")
    return (f"({fixed(mean / scale, k)} ± {fixed(half / scale, k)}){tail}",
            f"[{fixed(lo / scale, k)}, {fixed(hi / scale, k)}]{tail}")


def when(dt: Optional[datetime]) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "—"


def seconds(s: Optional[float]) -> str:
    if s is None:
        return "—"
    s = max(0.0, s)
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def duration(a: Optional[datetime], b: Optional[datetime]) -> str:
    return seconds((b - a).total_seconds()) if a and b else "—"


@dataclass
class RunRow:
    id: str
    index: int
    seed: int
    params: dict
    status: str
    epoch: int
    epochs: int
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    error: Optional[str]
    finals: dict[str, float]
    figures: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (name, png url, other urls)


@dataclass
class ReportPage:
    id: str
    name: str
    status: str
    created_at: Optional[datetime]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    error: Optional[str]
    spec: dict
    runs: list[RunRow]
    figure_runs: int  # runs whose figures are shown (the first ones)


def metric_columns(runs: list[RunRow]) -> list[str]:
    present = {k for r in runs for k in r.finals if k not in SKIP}
    first = [k for k in PREFERRED if k in present]
    return (first + sorted(present - set(first)))[:MAX_METRIC_COLUMNS]


def _params(p: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in p.items()) or "—"


def summary_table(runs: list[RunRow], cols: list[str]) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    rows = []
    for r in runs:
        cells = "".join(f"<td>{num(r.finals.get(c))}</td>" for c in cols)
        err = f'<div class="err">{e(r.error[:300])}</div>' if r.error else ""
        rows.append(
            f'<tr id="run-{e(r.id)}"><td>{r.index}</td><td class="l"><a href="#figs-{e(r.id)}">{e(r.id)}</a></td>'
            f"<td>{e(r.seed)}</td><td class=\"l\">{e(_params(r.params))}</td>"
            f'<td class="l"><span class="badge {e(r.status)}">{e(r.status)}</span>{err}</td>'
            f"<td>{r.epoch}/{r.epochs}</td><td>{seconds(r.finals.get(TIME))}</td>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr><th>#</th><th class="l">run</th><th>seed</th>'
            f'<th class="l">params</th><th class="l">status</th><th>epoch</th>'
            f'<th title="the training loop\'s own clock, every attempt; probes and figures excluded">training time'
            f'<div class="muted">epochs only</div></th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def aggregate(runs: list[RunRow], cols: list[str]) -> list[tuple[dict, int, int, dict[str, dict]]]:
    """Per sweep point (runs grouped by params, in run order): (params, succeeded n, runs, stats per column)."""
    groups: dict[str, list[RunRow]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r.params, sort_keys=True), []).append(r)
    out = []
    for members in groups.values():
        done = [r for r in members if r.status == "succeeded"]
        stats = {c: dict(summarize(r.finals.get(c) for r in done),
                         values=[v for r in done if (v := finite_number(r.finals.get(c))) is not None]) for c in cols}
        out.append((members[0].params, len(done), len(members), stats))
    return out


def _stat(s: dict) -> str:
    if s["mean"] is None:
        return "—"
    if s["ci95"] is None:
        return num(s["mean"])
    pm, bounds = ci_text(s["mean"], *s["ci95"])
    return f'{pm}<div class="muted">{bounds}</div>'


def aggregate_table(points: list, cols: list[str]) -> str:
    head = "".join(f"<th>{e(c)}<div class=\"muted\">mean ± 95% CI</div></th>" for c in cols)
    rows = "".join(
        f'<tr><td class="l">{e(_params(p))}</td><td>{n}/{total}</td>'
        + "".join(f"<td>{_stat(stats[c])}</td>" for c in cols) + "</tr>"
        for p, n, total, stats in points)
    return (f'<div class="scroll"><table><thead><tr><th class="l">sweep point</th><th>n (succeeded/runs)</th>'
            f"{head}</tr></thead><tbody>{rows}</tbody></table></div>")


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


def run_figures(r: RunRow, open_: bool) -> str:
    figs = "".join(
        f'<figure class="{"wide" if name in WIDE else ""}"><img src="{e(png)}" alt="{e(name)} figure of run {e(r.id)}" loading="lazy">'
        f"<figcaption>{e(name)}" + "".join(f'<a href="{e(u)}">{e(label)}</a>' for label, u in others.items())
        + "</figcaption></figure>"
        for name, png, others in r.figures)
    body = f'<div class="figs">{figs}</div>' if figs else '<p class="muted">no figures stored for this run</p>'
    return (f'<details id="figs-{e(r.id)}"{" open" if open_ else ""}><summary><h3>run {r.index} · seed {e(r.seed)}'
            f' · {e(_params(r.params))}</h3> <span class="badge {e(r.status)}">{e(r.status)}</span></summary>'
            f"{body}</details>")


def render(page: ReportPage) -> str:
    cols = metric_columns(page.runs)
    parts = [f"<h1>{e(page.name)}</h1>",
             f'<p class="meta"><span class="badge {e(page.status)}">{e(page.status)}</span> <span>id {e(page.id)}</span>'
             f"<span>created {when(page.created_at)}</span><span>started {when(page.started_at)}</span>"
             f"<span>finished {when(page.finished_at)}</span>"
             f"<span>took {duration(page.started_at, page.finished_at)}</span><span>{len(page.runs)} runs</span></p>"]
    if page.error:
        parts.append(f'<p class="err">{e(page.error)}</p>')
    parts += ["<h2>Runs</h2>", summary_table(page.runs, cols)]
    if len({json.dumps(r.params, sort_keys=True) for r in page.runs}) > 1 or len({r.seed for r in page.runs}) > 1:
        points = aggregate(page.runs, cols)
        parts += ["<h2>Across seeds</h2>", aggregate_table(points, cols)]
        metric = next((m for m in MAIN_SWEEP_METRICS if m in cols), cols[0] if cols else None)
        chart = sweep_svg(points, metric) if metric else ""
        if chart:
            parts.append(f'<div class="scroll" style="margin-top:12px">{chart}</div>')
    parts.append("<h2>Figures</h2>")
    parts += [run_figures(r, i < 4) for i, r in enumerate(page.runs[: page.figure_runs])]
    if len(page.runs) > page.figure_runs:
        parts.append(f'<p class="muted">figures of the first {page.figure_runs} runs only; each run lists all its '
                     f"artifacts at /v1/runs/&lt;id&gt;/artifacts</p>")
    parts += ["<h2>Spec</h2>", f"<pre>{e(json.dumps(page.spec, indent=2))}</pre>"]
    refresh = '<meta http-equiv="refresh" content="15">' if page.status in ("queued", "running", "cancelling") else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1">{refresh}<link rel="icon" href="data:,"><title>{e(page.name)} · skipcore report</title>'
            f"<style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>")
