"""Figures from probe results: PNG + SVG (matplotlib, Agg, headless) and a Vega-Lite v5 spec.

One function per probe with a figure, `fn(result, records=None) -> Figure | None`, in `FIGURES`;
`records` are layer-stat records `[{"name", "step", "values"}]` (the shape of GET /runs/{id}/layers),
used by `weight_magnitude` for its heat map over epochs. `depth_sweep(aggregate)` draws seed 000
fig 4 from an aggregate across runs; `training_curves(history)` the loss over epochs. A result
that lacks what a figure needs gives None, never an exception. Torch is never imported.
"""

from __future__ import annotations

import functools
import io
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch

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


# ----------------------------------------------------------------------------- helpers
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


# ----------------------------------------------------------------------------- probes
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
def loss_landscape(result: dict, records: Any = None) -> Optional[Figure]:
    """Li et al. 2018 slice: a 1-D line or a 2-D contour of the loss, roughness in the title."""
    alphas, loss, r = _arr(result["alphas"]), np.array(result["loss"], dtype=float), result.get("roughness") or {}
    title = (f"Loss landscape (filter-normalised, seed {result.get('seed', '?')}): laplacian "
             f"{_fmt(r.get('laplacian'))}, non-convex {_fmt(r.get('nonconvex_fraction'))}, "
             f"border/centre {_fmt(r.get('border_ratio'))}")
    fig, (ax,) = _new(1, width=7.5, height=5.2 if loss.ndim == 2 else 4.2)
    if loss.ndim == 1 and len(loss) == len(alphas):
        ax.plot(alphas, loss, "o-", ms=3)
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        _positive_log(ax, loss)
        ax.set(xlabel="step along direction d1 (alpha)", ylabel="validation loss")
        vega = _vega(title, _rows(alpha=alphas.tolist(), loss=loss.tolist()), mark={"type": "line", "point": True},
                     encoding={"x": _enc("alpha", "quantitative", "alpha"), "y": _enc("loss", "quantitative", "loss")})
    elif loss.ndim == 2 and loss.shape == (len(alphas), len(alphas)):
        betas = _arr(result.get("betas") or alphas)
        finite = loss[np.isfinite(loss)]
        if not finite.size:
            return None
        z = np.log10(np.clip(loss, finite[finite > 0].min() if (finite > 0).any() else 1e-12, None))
        a, b = np.meshgrid(alphas, betas, indexing="ij")
        cs = ax.contourf(a, b, z, levels=20, cmap="viridis")
        ax.contour(a, b, z, levels=10, colors="white", linewidths=0.5, alpha=0.6)
        ax.plot([0], [0], "r+", ms=12, mew=2)
        fig.colorbar(cs, ax=ax, label="log10 validation loss")
        ax.set(xlabel="alpha (direction d1)", ylabel="beta (direction d2)", aspect="equal")
        ax.grid(False)
        vals = [{"alpha": float(alphas[i]), "beta": float(betas[j]),
                 "loss": float(loss[i, j]) if np.isfinite(loss[i, j]) else None}
                for i in range(len(alphas)) for j in range(len(betas))]
        vega = _vega(title, vals, mark="rect", encoding={
            "x": _enc("alpha", "ordinal", "alpha", axis={"format": ".2f"}),
            "y": _enc("beta", "ordinal", "beta", sort="descending", axis={"format": ".2f"}),
            "color": _enc("loss", "quantitative", "loss", scale={"type": "log", "scheme": "viridis"})})
    else:
        return None
    ax.set_title(title, fontsize=9)
    return _render("loss_landscape", fig, vega)


def _block_bars(name: str, title: str, blocks: list[str], down: list[bool], panels: list[tuple]) -> Figure:
    idx = np.arange(1, len(blocks) + 1)
    colors = [DOWN if d else OTHER for d in down]
    fig, axes = _new(len(panels), width=6.5 if len(panels) > 1 else 8.0)
    rows: list[dict] = []
    for ax, (ylabel, vals, extra) in zip(axes, panels):
        ax.bar(idx, vals, color=colors)
        if extra is not None:
            ax.plot(idx, extra[1], "kD", ms=4, label=extra[0])
        ax.axhline(0, color="black", lw=0.8)
        ax.set(xlabel="block (1 = first)", ylabel=ylabel)
        _layer_ticks(ax, blocks)
        handles = [Patch(color=DOWN, label="downsampling block"),
                   Patch(color=OTHER, label="shape-preserving block")]
        ax.legend(handles=handles + ax.get_legend_handles_labels()[0], fontsize=8)
        rows += _rows(block=idx.tolist(), name=blocks, value=vals.tolist(), downsample=down,
                      measure=[ylabel] * len(blocks))
    fig.suptitle(title)
    vega = _vega(title, rows, mark={"type": "bar", "tooltip": True}, encoding={
        "x": _enc("block", "ordinal", "block (1 = first)"), "y": _enc("value", "quantitative", ""),
        "color": _enc("downsample", "nominal", "downsampling", scale={"domain": [True, False],
                                                                       "range": [DOWN, OTHER]}),
        "row": _enc("measure", "nominal", "")}, resolve={"scale": {"y": "independent"}})
    return _render(name, fig, vega)


@_safe
def block_lesion(result: dict, records: Any = None) -> Optional[Figure]:
    """Veit et al. 2016: change of validation loss (and accuracy) when each block is removed alone."""
    blocks, down, d_loss = list(result["blocks"]), [bool(d) for d in result["downsample"]], _arr(result["delta_loss"])
    if not blocks or not (len(blocks) == len(down) == len(d_loss)):
        return None
    panels = [("Δ validation loss (removed − intact)", d_loss, None)]
    if len(result.get("delta_acc") or []) == len(blocks):
        panels.append(("Δ validation accuracy (fraction)", _arr(result["delta_acc"]), None))
    return _block_bars("block_lesion", f"Block lesion: one block removed at a time "
                       f"(intact loss {_fmt(result.get('base_loss'))})", blocks, down, panels)


@_safe
def identity_ratio(result: dict, records: Any = None) -> Optional[Figure]:
    """Seed 004: ||F(x)|| / ||x|| per residual block (bars = mean, diamonds = median)."""
    blocks, down, ratio = list(result["blocks"]), [bool(d) for d in result["downsample"]], _arr(result["ratio"])
    median = _arr(result.get("median") or [])
    if not blocks or not (len(blocks) == len(down) == len(ratio)):
        return None
    extra = ("median", median) if len(median) == len(blocks) else None
    return _block_bars("identity_ratio", "Identity ratio ||F(x)|| / ||x|| per block (0 = identity)", blocks,
                       down, [("||F(x)|| / ||x|| (mean over samples)", ratio, extra)])


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


# ----------------------------------------------------------------------------- across runs / over training
def _sweep_key(points: list[dict]) -> Optional[str]:
    keys = [k for k in (points[0].get("params") or {}) if all(_num((p.get("params") or {}).get(k)) is not None
                                                              for p in points)]
    varying = [k for k in keys if len({p["params"][k] for p in points}) > 1]
    return (varying or keys or [None])[0]


@_safe
def depth_sweep(aggregate: dict, metric: str = "depth_error.mc_error", param: Optional[str] = None) -> Optional[Figure]:
    """Seed 000 fig 4 from GET /experiments/{id}/aggregate: mean of `metric` per sweep value, 95% CI bars."""
    points = [p for p in aggregate["points"] if _num(((p.get("metrics") or {}).get(metric) or {}).get("mean")) is not None]
    param = param or (_sweep_key(points) if points else None)
    if not points or param is None:
        return None
    points.sort(key=lambda p: float(p["params"][param]))
    x = _arr([p["params"][param] for p in points])
    stats = [p["metrics"][metric] for p in points]
    mean = _arr([s["mean"] for s in stats])
    lo = _arr([(s.get("ci95") or [None, None])[0] for s in stats])
    hi = _arr([(s.get("ci95") or [None, None])[1] for s in stats])
    lo, hi = np.where(np.isfinite(lo), lo, mean), np.where(np.isfinite(hi), hi, mean)
    fig, (ax,) = _new(1, width=7.5)
    ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o-", capsize=4, lw=1.5, label="mean, 95% CI")
    _positive_log(ax, mean, lo, hi)
    ax.set(title=f"{metric} by {param} (mean over seeds, 95% CI)", xlabel=param, ylabel=metric)
    ns = [int(p.get("n") or 0) for p in points]
    ax.legend(title=f"n per point: {min(ns)}–{max(ns)}", fontsize=8)
    rows = _rows(x=x.tolist(), mean=mean.tolist(), lo=lo.tolist(), hi=hi.tolist(), n=ns)
    vega = {"$schema": VEGA_SCHEMA, "title": f"{metric} by {param}", "data": {"values": rows}, "layer": [
        {"mark": {"type": "line", "point": True}, "encoding": {
            "x": _enc("x", "quantitative", param), "y": _enc("mean", "quantitative", metric)}},
        {"mark": "errorbar", "encoding": {"x": _enc("x", "quantitative", param),
                                          "y": _enc("lo", "quantitative", metric), "y2": {"field": "hi"}}}]}
    return _render("depth_sweep", fig, vega)


def _curve_keys(history: dict) -> tuple[list[str], list[str]]:
    return ([k for k in ("train_loss", "val_loss") if history.get(k)],
            [k for k in ("train_acc", "val_acc") if history.get(k)])


@_safe
def training_vega(history: dict) -> Optional[dict]:
    """The Vega-Lite spec of `training_curves` alone (no drawing: a few ms), or None without losses.
    `history` maps a metric key to [(step, value), ...]; the rows are the figure's data."""
    losses, accs = _curve_keys(history)
    if not losses:
        return None
    rows: list[dict] = []
    for k in losses + accs:
        steps, vals = _arr([p[0] for p in history[k]]), _arr([p[1] for p in history[k]])
        rows += _rows(epoch=steps.tolist(), value=vals.tolist(), metric=[k] * len(steps))
    return _vega("Training curves", rows, mark="line", encoding={
        "x": _enc("epoch", "quantitative", "epoch"), "y": _enc("value", "quantitative", "value"),
        "color": _enc("metric", "nominal", "metric")})


@_safe
def training_curves(history: dict, records: Any = None) -> Optional[Figure]:
    """Loss (and accuracy) over epochs; `history` maps a metric key to [(step, value), ...]."""
    losses, accs = _curve_keys(history)
    if not losses:
        return None
    fig, axes = _new(2 if accs else 1, width=6.0 if accs else 7.5)
    for ax, keys, ylabel in zip(axes, (losses, accs), ("loss (data term)", "accuracy (fraction)")):
        for k in keys:
            steps, vals = _arr([p[0] for p in history[k]]), _arr([p[1] for p in history[k]])
            ax.plot(steps, vals, "-" if len(steps) > 30 else "o-", ms=3, label=k)
        if keys is losses:
            _positive_log(ax, *[_arr([p[1] for p in history[k]]) for k in keys])
        ax.set(xlabel="epoch", ylabel=ylabel, title=ylabel.split(" (")[0].capitalize() + " over training")
        ax.legend(fontsize=8)
    return _render("training", fig, training_vega(history))


FIGURES: dict[str, Callable[..., Optional[Figure]]] = {
    "weight_magnitude": weight_magnitude,
    "skip_ablation": skip_ablation,
    "gradient_flow": gradient_flow,
    "identity_ratio": identity_ratio,
    "block_lesion": block_lesion,
    "loss_landscape": loss_landscape,
    "l1_linearity": l1_linearity,
}
