"""The experiment report as one self-contained HTML page (inline CSS, no scripts, no external assets).

`render(page)` with a `ReportPage` the route fills in: the markup is the Jinja2 template
`api/templates/report.html` (autoescaped, so every value from the database or the spec is escaped
once); this module keeps the number formatting and marks safe only the HTML it produces itself
(the exponent of a CI cell) and the chart the worker drew. Figures are the PNGs
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

from markupsafe import Markup

from api.pages import TEMPLATES
from skipcore.charts import TIME, fixed, metric_columns, num
from skipcore.stats import by_sweep_point

WIDE = {"skip_ablation", "weight_magnitude", "block_lesion", "l1_linearity"}  # figures with two panels


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


def ci_cell(mean: float, lo: float, hi: float) -> tuple[Markup, Markup]:
    """`ci_text` as markup: digits, signs and our own `<sup>` exponent, nothing from the database."""
    pm, bounds = ci_text(mean, lo, hi)
    return Markup(pm), Markup(bounds)


def pending(page: ReportPage) -> bool:
    """Whether the page waits for the worker: a run or the experiment still going, or a figure not drawn yet."""
    return (page.status in ("queued", "running", "cancelling") or bool(page.chart_note)
            or any(png is None for r in page.runs for _, png, _ in r.figures))


def render(page: ReportPage) -> str:
    cols = metric_columns(r.finals for r in page.runs)
    across = (len({json.dumps(r.params, sort_keys=True) for r in page.runs}) > 1
              or len({r.seed for r in page.runs}) > 1)
    # while runs go on, every 15 s; once they have ended and only figures are awaited, sooner
    running = page.status in ("queued", "running", "cancelling")
    return TEMPLATES.get_template("report.html").render(
        page=page, cols=cols, points=by_sweep_point(page.runs, cols) if across else None,
        refresh=(15 if running else 3) if pending(page) else None, spec_json=json.dumps(page.spec, indent=2),
        wide=WIDE, time=TIME, params=_params, num=num, seconds=seconds, when=when, duration=duration, ci_cell=ci_cell)
