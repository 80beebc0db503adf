"""What every figure shares: the `Figure` triple (PNG, SVG, Vega-Lite), the never-raise `_safe` wrapper,
JSON-to-array helpers, and a headless matplotlib canvas. Torch is never imported."""

from __future__ import annotations

import functools
import io
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

log = logging.getLogger("skipcore.figures")
VEGA_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
DOWN, OTHER = "#d95f02", "#1b9e77"  # downsampling / shape-preserving blocks
DPI = 100


@dataclass
class Figure:
    name: str
    png: bytes
    svg: bytes
    vega: dict


def _safe(fn: Callable[..., Optional[Figure]]) -> Callable[..., Optional[Figure]]:
    """A figure that cannot be drawn from what it was given is None, never an exception."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Optional[Figure]:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - missing keys, wrong shapes, empty data
            log.debug("no %s figure: %s: %s", fn.__name__, type(exc).__name__, exc)
            return None

    return wrapper


def _arr(values: Any) -> np.ndarray:
    """Floats, with None (JSON's NaN) as NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _fmt(v: Any) -> str:
    x = _num(v)
    return "n/a" if x is None else f"{x:.3g}"


def _rows(**cols: Any) -> list[dict]:
    """Column lists to Vega-Lite rows; NaN becomes null (JSON has no NaN)."""
    keys = list(cols)
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in zip(keys, vals)}
            for vals in zip(*(cols[k] for k in keys))]


def _vega(title: str, values: list[dict], **spec: Any) -> dict:
    return {"$schema": VEGA_SCHEMA, "title": title, "data": {"values": values}, **spec}


def _enc(field: str, kind: str, title: str, **extra: Any) -> dict:
    return {"field": field, "type": kind, "title": title, **extra}


def _new(ncols: int = 1, width: float = 7.0, height: float = 4.2) -> tuple[MplFigure, list]:
    fig = MplFigure(figsize=(width * ncols if ncols > 1 else width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # headless Agg canvas, no pyplot and no global backend switch
    axes = fig.subplots(1, ncols, squeeze=False)[0].tolist()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _render(name: str, fig: MplFigure, vega: dict) -> Figure:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI)
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return Figure(name=name, png=png.getvalue(), svg=svg.getvalue(), vega=vega)


def _layer_ticks(ax: Any, names: list[str]) -> None:
    idx = np.arange(1, len(names) + 1)
    if len(names) <= 16:
        ax.set_xticks(idx, names, rotation=45 if max(map(len, names)) > 4 else 0, ha="right", fontsize=8)


def _positive_log(ax: Any, *series: np.ndarray) -> None:
    vals = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.array([])
    if vals.size and (vals > 0).all() and vals.max() / vals.min() > 30:
        ax.set_yscale("log")
