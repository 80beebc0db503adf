"""The training-curve figure's PNG and SVG, drawn on first request instead of by the worker.

The worker stores `figures/training.vl.json` (a Vega-Lite spec with the curve data inlined: a few
ms) but not the PNG and SVG: drawing them with matplotlib cost ~0.2-0.5 s of every run, most of a
tiny run, for pictures most runs never show. The API draws both from that spec, with the same
`skipcore.figures.training_curves` the worker used (the same figure), the first time the run's
artifacts are listed or one of the two is downloaded, and stores them as ordinary artifacts
(kind `figure`); after that they are served like any other. matplotlib is imported only then
(`skipcore.figures` never imports torch).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from persistence.repo import artifacts as artifact_repo

log = logging.getLogger("skipcore.api")
LAZY_STEMS = ("training",)  # figures whose PNG/SVG the worker leaves to the API
FORMATS = ((".png", "image/png"), (".svg", "image/svg+xml"))


def pending(names: Iterable[str]) -> list[str]:
    """Artifact names served on demand: `figures/<stem>.png`/`.svg` of a lazy figure whose
    Vega-Lite spec is stored and whose rendering is not (yet)."""
    have = set(names)
    return [f"figures/{stem}{ext}" for stem in LAZY_STEMS if f"figures/{stem}.vl.json" in have
            for ext, _ in FORMATS if f"figures/{stem}{ext}" not in have]


def is_lazy(name: str) -> bool:
    return any(name == f"figures/{stem}{ext}" for stem in LAZY_STEMS for ext, _ in FORMATS)


def _history(vega: dict[str, Any]) -> dict[str, list[tuple[Any, Any]]]:
    history: dict[str, list[tuple[Any, Any]]] = {}
    for row in vega["data"]["values"]:
        history.setdefault(row["metric"], []).append((row["epoch"], row["value"]))
    return history


def render(session: Any, store: Any, run_id: str, stem: str = "training") -> bool:
    """Draw and store `figures/<stem>.png` and `.svg` from the stored Vega-Lite spec and commit.
    Returns whether they are stored; False (logged) when the spec is missing or cannot be drawn.
    Two requests racing here store the same bytes twice (the artifact row is an upsert)."""
    spec = artifact_repo.get(session, run_id, f"figures/{stem}.vl.json")
    if spec is None:
        return False
    try:
        from skipcore import figures

        fig = figures.training_curves(_history(json.loads(store.get(spec.uri))))
    except Exception:  # noqa: BLE001 - a figure that cannot be drawn is a 404, never a 500
        log.exception("drawing figures/%s of run %s failed", stem, run_id)
        return False
    if fig is None:
        return False
    for (ext, content_type), blob in zip(FORMATS, (fig.png, fig.svg)):
        name = f"figures/{stem}{ext}"
        key = f"runs/{run_id}/{name}"
        stored = store.put(key, blob, content_type=content_type)
        artifact_repo.record(session, run_id=run_id, name=name, kind="figure", size=stored.size,
                             sha256=stored.sha256, uri=key, content_type=content_type)
    session.commit()
    return True
