"""Per-layer figures: mean |W| (with its heat map over epochs), gradient flow, L1 pruning."""

from __future__ import annotations

from typing import Any, Optional

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import FuncFormatter, MaxNLocator

from skipcore.figures.common import (VEGA_SCHEMA, Figure, _arr, _enc, _fmt, _layer_ticks, _new, _render, _rows, _safe,
                                     _vega, layer_axis)


def _heat_records(records: Any, name: str) -> tuple[list[int], np.ndarray]:
    recs = sorted((r for r in records or [] if r.get("name") == name), key=lambda r: r["step"])
    if not recs:
        return [], np.zeros((0, 0))
    width = max(len(r["values"]) for r in recs)
    mat = np.full((len(recs), width), np.nan)
    for i, r in enumerate(recs):
        mat[i, : len(r["values"])] = _arr(r["values"])
    return [int(r["step"]) for r in recs], mat


def _relative_change(mat: np.ndarray) -> np.ndarray:
    """Each layer's (column's) percent change from its first finite, positive value."""
    base = np.array([next((v for v in col if np.isfinite(v) and v > 0), np.nan) for col in mat.T])
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (mat / base - 1.0)


def _edges(steps: list[int]) -> np.ndarray:
    """Cell edges half-way between recorded epochs (the records may be thinned unevenly)."""
    s = np.array(steps, dtype=float)
    if len(s) == 1:
        return np.array([s[0] - 0.5, s[0] + 0.5])
    mid = (s[1:] + s[:-1]) / 2
    return np.concatenate([[s[0] - (mid[0] - s[0])], mid, [s[-1] + (s[-1] - mid[-1])]])


def _heat_map(fig: Any, ax: Any, names: list[str], steps: list[int], mat: np.ndarray) -> dict:
    """mean |W| over training on a scale every layer reads on: the colour is each layer's percent
    change from its own first recorded value (the input layer's |W| is several times the others', so
    one absolute scale leaves every other layer one colour); the bar panel keeps the absolute values."""
    change = _relative_change(mat)
    finite = np.abs(change[np.isfinite(change)])
    lim = float(max(finite.max() if finite.size else 0.0, 0.1))
    mesh = ax.pcolormesh(np.arange(0.5, mat.shape[1] + 1), _edges(steps), change, cmap="RdBu_r",
                         norm=Normalize(-lim, lim), shading="flat")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7, integer=True, steps=[1, 2, 5, 10]))
    ax.set_ylim(_edges(steps)[0], _edges(steps)[-1])
    title = _layer_ticks(ax, names)
    ax.set(title=f"Mean |W| over training, each layer relative to epoch {steps[0]}", ylabel="epoch")
    ax.grid(False)
    bar = fig.colorbar(mesh, ax=ax, label=f"change of the layer's mean |W| since epoch {steps[0]} (%)")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.3g}%" if v else "0%"))
    labels, _ = layer_axis(names)
    return {"mark": {"type": "rect", "tooltip": True}, "data": {"values": [
        {"epoch": s, "layer": j + 1, "label": labels[j] if j < len(labels) else str(j + 1),
         "mean_abs": float(v) if np.isfinite(v) else None, "change_pct": float(c) if np.isfinite(c) else None}
        for s, row, crow in zip(steps, mat, change) for j, (v, c) in enumerate(zip(row, crow))]}, "encoding": {
        "x": _enc("label", "ordinal", title, sort={"field": "layer"}), "y": _enc("epoch", "ordinal", "epoch", sort="descending"),
        "color": _enc("change_pct", "quantitative", f"change of mean |W| since epoch {steps[0]} (%)",
                      scale={"scheme": "redblue", "reverse": True, "domain": [-lim, lim]})}}


@_safe
def weight_magnitude(result: dict, records: Any = None) -> Optional[Figure]:
    """Seed 000 figs 2/3: mean |W| per layer; with records, a heat map of its change over epochs."""
    names, vals = list(result["layers"]), _arr(result["mean_abs"])
    if not len(vals) or len(names) != len(vals):
        return None
    steps, mat = _heat_records(records, "weight_mean_abs")
    fig, axes = _new(2 if steps else 1, width=6.5 if steps else 7.5)
    idx = np.arange(1, len(vals) + 1)
    axes[0].bar(idx, vals, color="#4c72b0", alpha=0.85)
    axes[0].plot(idx, vals, "o-", color="#1f3b73", ms=3, lw=1)
    axes[0].set(title="Final mean |W| per layer", ylabel="mean |W| (weight units)")
    title = _layer_ticks(axes[0], names)
    labels, _ = layer_axis(names)
    bar = {"mark": {"type": "bar", "tooltip": True}, "data": {"values": _rows(
        layer=idx.tolist(), label=labels, name=names, mean_abs=vals.tolist())}, "encoding": {
        "x": _enc("label", "ordinal", title, sort={"field": "layer"}), "y": _enc("mean_abs", "quantitative", "mean |W|")}}
    if not steps:
        return _render("weight_magnitude", fig, {"$schema": VEGA_SCHEMA, "title": "Mean |W| per layer", **bar})
    heat = _heat_map(fig, axes[1], names, steps, mat)
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
    ax.set(title="Gradient flow: ||dL/dW|| per layer", ylabel="weight-gradient Frobenius norm (log)")
    title = _layer_ticks(ax, names)
    ax.legend(fontsize=8)
    vega = _vega("Gradient flow per layer", rows, mark={"type": "line", "point": True}, encoding={
        "x": _enc("layer", "ordinal", title),
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
    ax.set(title="Hidden units per layer", ylabel="units (count)")
    title = _layer_ticks(ax, layers, noun="hidden layer")
    ax.legend(fontsize=8)
    thr = float(result.get("threshold") or 1e-3)
    for name, label in zip(layers, layer_axis(layers, "hidden layer")[0]):
        u = units[name]
        mi, mo = np.clip(_arr(u["max_in"]), thr / 100, None), np.clip(_arr(u["max_out"]), thr / 100, None)
        sc.scatter(mi, mo, s=10, alpha=0.7, label=f"layer {label}" if len(layers) <= 8 else None)
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
        "x": _enc("layer", "ordinal", title), "y": _enc("units", "quantitative", "units", stack=True),
        "color": _enc("state", "nominal", "unit")})
    return _render("l1_linearity", fig, vega)
