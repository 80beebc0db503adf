"""`GET /v1/experiments/{id}/report`: one self-contained HTML page (figures, summary table, spec).

The figures are the PNGs the worker stored (`figures/<name>.png`), linked by signed, short-lived
artifact URLs, so the page needs no API key to show them; the sweep chart is the SVG the worker
stored once every run had finished, inlined as stored. The page reads and never draws or writes:
a figure not drawn yet (its Vega-Lite spec is stored, its PNG is not; or the experiment has ended
and its chart is missing) is a placeholder, and the figure task is asked for it. The page
refreshes itself while the experiment runs or a figure is awaited. A strict
Content-Security-Policy allows no scripts and nothing from elsewhere.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api import report
from api.deps import ExperimentDep, SessionDep, StateDep
from api.signing import signed_url
from api.stats import finite_number
from persistence.objects import ObjectNotFound
from persistence.queue import FIGURE_RUNS, experiment_figures_key, send_figures
from persistence.repo import artifacts as artifact_repo
from persistence.repo import metrics as metrics_repo

router = APIRouter(prefix="/v1/experiments", tags=["report"])

CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
ENDED = ("succeeded", "failed", "cancelled")


def _figures(session, run_id: str, order: list[str], key: bytes, ttl: int) -> list[tuple[str, Optional[str], dict]]:
    names = {a.name for a in artifact_repo.list_for_run(session, run_id) if a.name.startswith("figures/")}
    url = lambda name: signed_url(key, f"/v1/runs/{run_id}/artifacts/{name}", ttl)  # noqa: E731
    stems = {n[len("figures/"):-len(".png")] for n in names if n.endswith(".png")}
    stems |= {n[len("figures/"):-len(".vl.json")] for n in names if n.endswith(".vl.json")}  # PNG pending
    ordered = sorted(stems, key=lambda s: (order.index(s) if s in order else len(order), s))
    return [(stem, url(f"figures/{stem}.png") if f"figures/{stem}.png" in names else None,
             {label: url(f"figures/{stem}{ext}") for label, ext in (("svg", ".svg"), ("vega-lite", ".vl.json"))
              if f"figures/{stem}{ext}" in names})
            for stem in ordered]


def _chart(state: Any, exp: Any, ended: bool) -> tuple[Optional[str], str, bool]:
    """(stored sweep chart SVG, the note standing in for it, whether to ask the worker for it)."""
    try:
        doc = json.loads(state.store.get(experiment_figures_key(exp.id)))
    except ObjectNotFound:
        if not ended:
            return None, "the sweep chart is drawn once every run has finished", False
        return None, "the sweep chart is being drawn by the worker; this page reloads", True
    return doc.get("sweep_svg"), "", False


@router.get("/{experiment_id}/report", response_class=HTMLResponse,
            summary="An HTML page with the experiment's figures, summary table and spec",
            responses={404: {"description": "unknown experiment"}})
def experiment_report(exp: ExperimentDep, session: SessionDep, state: StateDep) -> HTMLResponse:
    runs = list(exp.runs)
    latest: dict = {}
    for i in range(0, len(runs), 500):  # ids per IN (...) list
        latest.update(metrics_repo.latest(session, [r.id for r in runs[i : i + 500]]))
    key, ttl = state.settings.signing_key(), state.settings.url_ttl_seconds
    order = ["training"] + [p.get("name") for p in exp.spec.get("probes") or []]
    rows = []
    for i, r in enumerate(runs):
        merged = {**latest.get(r.id, {}), **(r.summary or {})}
        rows.append(report.RunRow(
            id=r.id, index=r.index, seed=r.seed, params=r.params or {}, status=r.status, epoch=r.epoch or 0,
            epochs=r.epochs or 0, started_at=r.started_at, finished_at=r.finished_at, error=r.error,
            finals={k: x for k, v in merged.items() if (x := finite_number(v)) is not None},
            figures=_figures(session, r.id, order, key, ttl) if i < FIGURE_RUNS else []))
    ended = bool(runs) and all(r.status in ENDED for r in runs)
    chart, note, ask = _chart(state, exp, ended)
    waiting = [r.id for r in rows if r.status in ENDED and any(png is None for _, png, _ in r.figures)]
    if ask or waiting:
        send_figures(state.celery, exp.id, None if ask else waiting)
    page = report.ReportPage(id=exp.id, name=exp.name, status=exp.status, created_at=exp.created_at,
                             started_at=exp.started_at, finished_at=exp.finished_at, error=exp.error,
                             spec=exp.spec, runs=rows, figure_runs=FIGURE_RUNS, sweep_chart=chart, chart_note=note)
    return HTMLResponse(report.render(page), headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})
