"""Seed 000 fig 1: the function a network realises with all, the first k or the last k skips."""

from __future__ import annotations

from typing import Any, Optional

import matplotlib
import numpy as np

from skipcore.figures.common import Figure, _arr, _enc, _fmt, _new, _render, _rows, _safe, _vega


@_safe
def skip_ablation(result: dict, records: Any = None) -> Optional[Figure]:
    """Seed 000 fig 1: the realised function with all skips, only the first k, only the last k."""
    full = _arr(result["full"])
    xs = result.get("x") or []
    x = _arr(xs) if xs else np.arange(len(full), dtype=float)
    xlabel = "input x" if xs else "validation sample index"
    target = _arr(result.get("target") or [])
    ks = [str(k) for k in result["ks"]]
    if not len(full) or len(x) != len(full):
        return None
    fig, axes = _new(2, width=6.0)
    rows: list[dict] = []
    for ax, side in zip(axes, ("first", "last")):
        panel = f"only the {side} k skips"
        cmap = matplotlib.colormaps["viridis"]
        if len(target) == len(x):
            ax.plot(x, target, "k--", lw=1.5, label="target f(x)")
            rows += _rows(x=x.tolist(), y=target.tolist(), curve=["target"] * len(x), panel=[panel] * len(x))
        ax.plot(x, full, color="#1f77b4", lw=2.2, label=f"all skips (MSE {_fmt(result.get('mse_full'))})")
        rows += _rows(x=x.tolist(), y=full.tolist(), curve=["all skips"] * len(x), panel=[panel] * len(x))
        for i, k in enumerate(ks):
            y = _arr(result[side][k])
            mse = (result.get(f"mse_{side}") or {}).get(k)
            ax.plot(x, y, color=cmap(i / max(1, len(ks) - 1) * 0.9), lw=1.2, label=f"{side} {k} (MSE {_fmt(mse)})")
            rows += _rows(x=x.tolist(), y=y.tolist(), curve=[f"{side} {k}"] * len(x), panel=[panel] * len(x))
        ax.set(title=panel, xlabel=xlabel, ylabel="network output f(x)")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Skip ablation: realised function with a subset of skips at inference")
    vega = _vega("Skip ablation", rows, mark="line", encoding={
        "x": _enc("x", "quantitative", xlabel), "y": _enc("y", "quantitative", "network output f(x)"),
        "color": _enc("curve", "nominal", "skips kept"), "column": _enc("panel", "nominal", "")})
    return _render("skip_ablation", fig, vega)
