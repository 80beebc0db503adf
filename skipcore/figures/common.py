"""What every figure shares: the `Figure` triple (PNG, SVG, Vega-Lite), the never-raise `_safe` wrapper,
JSON-to-array helpers, and a headless matplotlib canvas. Torch is never imported.

`vega_only(fn, result, records)` gives a figure's Vega-Lite spec without its PNG and SVG: the very
spec `fn` returns with its images, while its matplotlib calls go to a canvas that keeps nothing
(`_Unseen`), so no figure is built, laid out or drawn."""

from __future__ import annotations

import contextvars
import functools
import io
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

log = logging.getLogger("skipcore.figures")
VEGA_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
DOWN, OTHER = "#d95f02", "#1b9e77"  # downsampling / shape-preserving blocks
DPI = 100
_IMAGES = contextvars.ContextVar("skipcore_figure_images", default=True)  # False: `_render` skips savefig


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


class _Unseen:
    """A matplotlib figure, axes or artist that nobody will see: every attribute, call and item is
    this object again, and it adds to a list as nothing. The figures compute their Vega-Lite
    specs from their inputs, never from what matplotlib returns, so the spec they give while
    drawing on this is the one they give while drawing for real (checked for every figure)."""

    def __getattr__(self, name: str) -> "_Unseen":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> "_Unseen":
        return self

    def __getitem__(self, key: Any) -> "_Unseen":
        return self

    def __iter__(self):
        return iter(())

    def __radd__(self, other: Any) -> Any:
        return other


_UNSEEN = _Unseen()


def _new(ncols: int = 1, width: float = 7.0, height: float = 4.2) -> tuple[MplFigure, list]:
    """A figure with `ncols` axes on a headless canvas; with images off (`vega_only`), the canvas
    that keeps nothing."""
    if not _IMAGES.get():
        return _UNSEEN, [_UNSEEN] * ncols  # type: ignore[return-value]
    fig = MplFigure(figsize=(width * ncols if ncols > 1 else width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # headless Agg canvas, no pyplot and no global backend switch
    axes = fig.subplots(1, ncols, squeeze=False)[0].tolist()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _render(name: str, fig: MplFigure, vega: dict) -> Figure:
    if not _IMAGES.get():
        return Figure(name=name, png=b"", svg=b"", vega=vega)
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI)
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return Figure(name=name, png=png.getvalue(), svg=svg.getvalue(), vega=vega)


def vega_only(fn: Callable[..., Optional[Figure]], result: dict, records: Any = None) -> Optional[dict]:
    """The Vega-Lite spec `fn(result, records=records)` would return with its images, without
    rendering them; None where `fn` gives no figure."""
    token = _IMAGES.set(False)
    try:
        fig = fn(result, records=records)
    finally:
        _IMAGES.reset(token)
    return fig.vega if fig is not None else None


_HIDDEN = re.compile(r"hidden\.(\d+)$")
_MAIN = re.compile(r"main\.(\d+)$")
_SKIP = re.compile(r"skips\.(\d+)_(\d+)$")
MLP_AXIS = "layer (1 = first hidden layer, fed by the input x; out = output layer)"


def layer_axis(names: list[str], noun: str = "layer") -> tuple[list[str], str]:
    """Tick labels and the axis title, naming layers the same way: an MLP's `hidden.k` is hidden layer
    k + 1 (the numbering of the studies: 1 = the first hidden layer, the one fed by the input),
    `output` is `out`; a dense-skip MLP's `main.k` is the weight into hidden layer k + 1 and a skip
    `i→j` joins layers i and j (0 = the input); any other network is numbered in forward order."""
    hidden = [_HIDDEN.match(n) for n in names]
    if any(hidden) and all(h or n in ("output", "direct") for h, n in zip(hidden, names)):
        labels = [str(int(h.group(1)) + 1) if h else {"output": "out", "direct": "direct"}[n]
                  for h, n in zip(hidden, names)]
        extra = "; direct = the input-to-output layer" if "direct" in names else ""
        return labels, MLP_AXIS[:-1] + extra + ")"
    main, skip = [_MAIN.match(n) for n in names], [_SKIP.match(n) for n in names]
    if any(main) and all(m or k for m, k in zip(main, skip)):
        last = max(int(m.group(1)) for m in main if m)
        labels = [("out" if int(m.group(1)) == last else str(int(m.group(1)) + 1)) if m
                  else f"{k.group(1)}→{k.group(2)}" for m, k in zip(main, skip)]
        return labels, "layer (k = the weight into hidden layer k, out = output layer; i→j = skip, 0 = input)"
    return [str(i) for i in range(1, len(names) + 1)], f"{noun} (1 = first, in forward order)"


def _layer_ticks(ax: Any, names: list[str], noun: str = "layer", axis: str = "x") -> str:
    """Ticks at positions 1..n named by `layer_axis` (all of them up to 16, else every few numbered
    ones and every named one such as `out`); sets and returns the matching axis title."""
    labels, title = layer_axis(names, noun)
    keep = list(range(len(labels)))
    if len(labels) > 16:
        numbered = [i for i, lab in enumerate(labels) if lab.isdigit()]
        step = nice_step(len(numbered) / 8)
        keep = [i for i in numbered if int(labels[i]) == 1 or int(labels[i]) % step == 0]
        keep += [i for i, lab in enumerate(labels) if lab == "out"]
    setter = ax.set_xticks if axis == "x" else ax.set_yticks
    setter([i + 1 for i in keep], [labels[i] for i in keep], fontsize=8)
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(title)
    return title


def nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at least `raw` (> 0)."""
    if not raw > 0:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))


def tick_label(v: float) -> str:
    """A tick value as written by hand: 0.01, 0.015, 2, 1e-05 (no float noise, no trailing zeros)."""
    if v == 0:
        return "0"
    return f"{v:.6g}" if 1e-4 <= abs(v) < 1e6 else f"{v:.2g}"


def _positive_log(ax: Any, *series: np.ndarray) -> bool:
    vals = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.array([])
    if vals.size and (vals > 0).all() and vals.max() / vals.min() > 30:
        ax.set_yscale("log")
        return True
    return False
