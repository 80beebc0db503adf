"""Per-layer figures: mean |W| (with its heat map over epochs), gradient flow, L1 pruning."""

from __future__ import annotations

from typing import Any, Optional

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm

from skipcore.figures.common import (VEGA_SCHEMA, Figure, _arr, _enc, _fmt, _layer_ticks, _new, _render, _rows, _safe,
                                     _vega)


def _heat_records(records: Any, name: str) -> tuple[list[int], np.ndarray]:
    recs = sorted((r for r in records or [] if r.get("name") == name), key=lambda r: r["step"])
    if not recs:
        return [], np.zeros((0, 0))
    width = max(len(r["values"]) for r in recs)
    mat = np.full((len(recs), width), np.nan)
    for i, r in enumerate(recs):
        mat[i, : len(r["values"])] = _arr(r["values"])
    return [int(r["step"]) for r in recs], mat


@_safe
def weight_magnitude(result: dict, records: Any = None) -> Optional[Figure]:
    """Seed 000 figs 2/3: mean |W| per layer; with records, a heat map of it over epochs."""
    names, vals = list(result["layers"]), _arr(result["mean_abs"])
    if not len(vals) or len(names) != len(vals):
        return None
    steps, mat = _heat_records(records, "weight_mean_abs")
    fig, axes = _new(2 if steps else 1, width=6.5 if steps else 7.5)
    idx = np.arange(1, len(vals) + 1)
    axes[0].bar(idx, vals, color="#4c72b0", alpha=0.85)
    axes[0].plot(idx, vals, "o-", color="#1f3b73", ms=3, lw=1)
    axes[0].set(title="Final mean |W| per layer", xlabel="layer (1 = first)", ylabel="mean |W| (weight units)")
    _layer_ticks(axes[0], names)
    bar = {"mark": {"type": "bar", "tooltip": True}, "data": {"values": _rows(
        layer=idx.tolist(), name=names, mean_abs=vals.tolist())}, "encoding": {
        "x": _enc("layer", "ordinal", "layer (1 = first)"), "y": _enc("mean_abs", "quantitative", "mean |W|")}}
    if not steps:
        return _render("weight_magnitude", fig, {"$schema": VEGA_SCHEMA, "title": "Mean |W| per layer", **bar})
    pos = mat[np.isfinite(mat) & (mat > 0)]
    norm = LogNorm(pos.min(), pos.max()) if pos.size and pos.max() / pos.min() > 30 else None
    im = axes[1].imshow(mat, aspect="auto", origin="lower", cmap="magma", norm=norm, interpolation="nearest",
                        extent=(0.5, mat.shape[1] + 0.5, -0.5, len(steps) - 0.5))
    tick_rows = np.unique(np.linspace(0, len(steps) - 1, min(8, len(steps))).astype(int))
    axes[1].set_yticks(tick_rows, [str(steps[i]) for i in tick_rows])
    if mat.shape[1] <= 16:
        axes[1].set_xticks(np.arange(1, mat.shape[1] + 1))
    axes[1].set(title="Mean |W| per layer over training", xlabel="layer (1 = first)", ylabel="epoch")
    axes[1].grid(False)
    fig.colorbar(im, ax=axes[1], label="mean |W|")
    heat = {"mark": "rect", "data": {"values": [
        {"epoch": s, "layer": j + 1, "mean_abs": (None if not np.isfinite(v) else float(v))}
        for s, row in zip(steps, mat) for j, v in enumerate(row)]}, "encoding": {
        "x": _enc("layer", "ordinal", "layer"), "y": _enc("epoch", "ordinal", "epoch", sort="descending"),
        "color": _enc("mean_abs", "quantitative", "mean |W|", scale={"scheme": "magma"})}}
    return _render("weight_magnitude", fig, {"$schema": VEGA_SCHEMA, "title": "Mean |W| per layer",
                                             "vconcat": [bar, heat]})


@_safe
def gradient_flow(result: dict, records: Any = None) -> Optional[Figure]:
    """Weight-gradient norm per layer (log scale): first update, later first updates, trained weights."""
    names = list(result["layers"])
    first = [_arr(u) for u in result.get("first_updates") or []]
    final = _arr(result["final"])
    init = _arr(result.get("init") or (first[0] if first else []))
    if not names or len(final) != len(names):
        return None
    idx = np.arange(1, len(names) + 1)
    fig, (ax,) = _new(1, width=8.0)
    rows: list[dict] = []
    cmap = matplotlib.colormaps["Blues"]
    for i, u in enumerate(first[1:], start=2):
        ax.plot(idx, np.where(u > 0, u, np.nan), color=cmap(0.35 + 0.5 * i / (len(first) + 1)), lw=0.9,
                label="updates 2.." + str(len(first)) if i == 2 else None)
        rows += _rows(layer=idx.tolist(), grad_norm=u.tolist(), curve=[f"update {i}"] * len(idx))
    for y, label, style in ((init, "first update (init)", "o-"), (final, "trained weights (final)", "s-")):
        if len(y) == len(names):
            ax.plot(idx, np.where(y > 0, y, np.nan), style, lw=2, ms=3, label=label)
            rows += _rows(layer=idx.tolist(), grad_norm=y.tolist(), curve=[label] * len(idx))
    ax.set_yscale("log")
    ax.set(title="Gradient flow: ||dL/dW|| per layer", xlabel="layer (1 = first)",
           ylabel="weight-gradient Frobenius norm (log)")
    _layer_ticks(ax, names)
    ax.legend(fontsize=8)
    vega = _vega("Gradient flow per layer", rows, mark={"type": "line", "point": True}, encoding={
        "x": _enc("layer", "ordinal", "layer (1 = first)"),
        "y": _enc("grad_norm", "quantitative", "||dL/dW||", scale={"type": "log"}),
        "color": _enc("curve", "nominal", "when")})
    return _render("gradient_flow", fig, vega)


@_safe
def l1_linearity(result: dict, records: Any = None) -> Optional[Figure]:
    """Seed 002: hidden units pruned by L1 per layer, and each unit's largest in/out weight."""
    units, layers = result["units"], list(result["layers"])
    if not layers:
        return None
    counts = {"pruned": [], "inactive only": [], "active": []}
    for name in layers:
        u = units[name]
        pruned, inactive = np.array(u["pruned"], bool), np.array(u["inactive"], bool)
        counts["pruned"].append(int(pruned.sum()))
        counts["inactive only"].append(int((inactive & ~pruned).sum()))
        counts["active"].append(int((~inactive).sum()))
    fig, (ax, sc) = _new(2, width=6.0)
    idx, bottom = np.arange(1, len(layers) + 1), np.zeros(len(layers))
    colors = {"pruned": "#c44e52", "inactive only": "#dd8452", "active": "#4c72b0"}
    for label, c in counts.items():
        ax.bar(idx, c, bottom=bottom, color=colors[label], label=label)
        bottom += np.array(c)
    ax.set(title="Hidden units per layer", xlabel="hidden layer (1 = first)", ylabel="units (count)")
    _layer_ticks(ax, layers)
    ax.legend(fontsize=8)
    thr = float(result.get("threshold") or 1e-3)
    for name in layers:
        u = units[name]
        mi, mo = np.clip(_arr(u["max_in"]), thr / 100, None), np.clip(_arr(u["max_out"]), thr / 100, None)
        sc.scatter(mi, mo, s=10, alpha=0.7, label=name if len(layers) <= 8 else None)
    sc.axvline(thr, color="k", ls="--", lw=0.8)
    sc.axhline(thr, color="k", ls="--", lw=0.8)
    sc.set(xscale="log", yscale="log", title=f"Per unit (threshold {thr:g}, dashed)",
           xlabel="max |incoming weight|", ylabel="max |outgoing weight|")
    if len(layers) <= 8:
        sc.legend(fontsize=7)
    fig.suptitle(f"L1 linearity: {_fmt(100 * (result.get('fraction_pruned') or 0))}% units pruned, "
                 f"R² of a linear fit {_fmt(result.get('r2'))}")
    rows = [{"layer": i + 1, "name": n, "state": k, "units": counts[k][i]} for i, n in enumerate(layers) for k in counts]
    vega = _vega("Hidden units pruned by L1", rows, mark={"type": "bar", "tooltip": True}, encoding={
        "x": _enc("layer", "ordinal", "hidden layer"), "y": _enc("units", "quantitative", "units", stack=True),
        "color": _enc("state", "nominal", "unit")})
    return _render("l1_linearity", fig, vega)
