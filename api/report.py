"""The experiment report as one self-contained HTML page (inline CSS, no scripts, no external assets).

Pure functions from rows to escaped HTML: `render(page)` with a `ReportPage` the route fills in.
Every value from the database or the spec goes through `e()` (html.escape). Figures are the PNGs
the worker stored, referenced by signed artifact URLs; the sweep chart is the SVG the worker drew
when the experiment's runs had all finished (`skipcore.charts`), inlined as stored. A figure the
worker has not drawn yet is a placeholder, never drawn here: the API draws nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from skipcore.charts import TIME, e, fixed, metric_columns, num
from skipcore.stats import by_sweep_point

WIDE = {"skip_ablation", "weight_magnitude", "block_lesion", "l1_linearity"}  # figures with two panels

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
.err{color:#c62828}.muted{color:#7a838c}.pending{color:#7a838c;font-style:italic}svg text{font:11px system-ui,sans-serif;fill:#1d232a}
"""


def ci_decimals(half: float, digits: int = 2) -> int:
    """Decimals that keep `digits` significant digits of a CI half-width (negative: round to tens...)."""
    return digits - 1 - math.floor(math.log10(half))


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
    # (name, png url or None while the worker draws it, other urls)
    figures: list[tuple[str, Optional[str], dict[str, str]]] = field(default_factory=list)


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
    sweep_chart: Optional[str] = None  # the stored SVG of the sweep chart, when the worker drew one
    chart_note: str = ""  # what stands in for the chart while there is none


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


def _figure(r: RunRow, name: str, png: Optional[str], others: dict[str, str]) -> str:
    if png is None:
        return (f'<figure class="{"wide" if name in WIDE else ""}"><p class="pending">{e(name)}: being drawn by the '
                f"worker; this page reloads</p></figure>")
    return (f'<figure class="{"wide" if name in WIDE else ""}"><img src="{e(png)}" alt="{e(name)} figure of run {e(r.id)}"'
            f' loading="lazy"><figcaption>{e(name)}' + "".join(f'<a href="{e(u)}">{e(label)}</a>'
                                                                for label, u in others.items())
            + "</figcaption></figure>")


def pending(page: ReportPage) -> bool:
    """Whether the page waits for the worker: a run or the experiment still going, or a figure not drawn yet."""
    return (page.status in ("queued", "running", "cancelling") or bool(page.chart_note)
            or any(png is None for r in page.runs for _, png, _ in r.figures))


def run_figures(r: RunRow, open_: bool) -> str:
    figs = "".join(_figure(r, name, png, others) for name, png, others in r.figures)
    body = f'<div class="figs">{figs}</div>' if figs else '<p class="muted">no figures stored for this run</p>'
    return (f'<details id="figs-{e(r.id)}"{" open" if open_ else ""}><summary><h3>run {r.index} · seed {e(r.seed)}'
            f' · {e(_params(r.params))}</h3> <span class="badge {e(r.status)}">{e(r.status)}</span></summary>'
            f"{body}</details>")


def render(page: ReportPage) -> str:
    cols = metric_columns(r.finals for r in page.runs)
    parts = [f"<h1>{e(page.name)}</h1>",
             f'<p class="meta"><span class="badge {e(page.status)}">{e(page.status)}</span> <span>id {e(page.id)}</span>'
             f"<span>created {when(page.created_at)}</span><span>started {when(page.started_at)}</span>"
             f"<span>finished {when(page.finished_at)}</span>"
             f"<span>took {duration(page.started_at, page.finished_at)}</span><span>{len(page.runs)} runs</span></p>"]
    if page.error:
        parts.append(f'<p class="err">{e(page.error)}</p>')
    parts += ["<h2>Runs</h2>", summary_table(page.runs, cols)]
    if len({json.dumps(r.params, sort_keys=True) for r in page.runs}) > 1 or len({r.seed for r in page.runs}) > 1:
        parts += ["<h2>Across seeds</h2>", aggregate_table(by_sweep_point(page.runs, cols), cols)]
        if page.sweep_chart:
            parts.append(f'<div class="scroll" style="margin-top:12px">{page.sweep_chart}</div>')
        elif page.chart_note:
            parts.append(f'<p class="pending">{e(page.chart_note)}</p>')
    parts.append("<h2>Figures</h2>")
    parts += [run_figures(r, i < 4) for i, r in enumerate(page.runs[: page.figure_runs])]
    if len(page.runs) > page.figure_runs:
        parts.append(f'<p class="muted">figures of the first {page.figure_runs} runs only; each run lists all its '
                     f"artifacts at /v1/runs/&lt;id&gt;/artifacts</p>")
    parts += ["<h2>Spec</h2>", f"<pre>{e(json.dumps(page.spec, indent=2))}</pre>"]
    # while runs go on, every 15 s; once they have ended and only figures are awaited, sooner
    running = page.status in ("queued", "running", "cancelling")
    refresh = f'<meta http-equiv="refresh" content="{15 if running else 3}">' if pending(page) else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1">{refresh}<link rel="icon" href="data:,"><title>{e(page.name)} · skipcore report</title>'
            f"<style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>")
