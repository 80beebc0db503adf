"""Figures across runs (a depth sweep from an aggregate) and over training (loss and accuracy curves)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from matplotlib.ticker import FuncFormatter, MaxNLocator

from skipcore.figures.common import (VEGA_SCHEMA, Figure, _arr, _enc, _new, _num, _positive_log, _render, _rows, _safe,
                                     _vega, tick_label)


def _sweep_key(points: list[dict]) -> Optional[str]:
    keys = [k for k in (points[0].get("params") or {}) if all(_num((p.get("params") or {}).get(k)) is not None
                                                              for p in points)]
    varying = [k for k in keys if len({p["params"][k] for p in points}) > 1]
    return (varying or keys or [None])[0]


MIN_CI_SEEDS = 3  # below this many seeds a point shows its seeds, not a 95% CI


def _seed_values(stat: dict) -> list[float]:
    return [x for x in (_num(v) for v in stat.get("values") or []) if x is not None]


@_safe
def depth_sweep(aggregate: dict, metric: str = "depth_error.mc_error", param: Optional[str] = None,
                nonnegative: Optional[bool] = None) -> Optional[Figure]:
    """Seed 000 fig 4 from GET /experiments/{id}/aggregate: mean of `metric` per sweep value with its
    95% CI; a point with fewer than 3 seeds shows its seeds (a stat's optional `values`) instead.
    For a non-negative metric (`nonnegative`; by default: every mean and seed value >= 0) the CI is
    clipped at 0, and the axis is logarithmic only when every drawn value is > 0 over 30x or more."""
    points = [p for p in aggregate["points"] if _num(((p.get("metrics") or {}).get(metric) or {}).get("mean")) is not None]
    param = param or (_sweep_key(points) if points else None)
    if not points or param is None:
        return None
    points.sort(key=lambda p: float(p["params"][param]))
    x = _arr([p["params"][param] for p in points])
    stats = [p["metrics"][metric] for p in points]
    ns = [int(p.get("n") or s.get("n") or 0) for p, s in zip(points, stats)]
    mean = _arr([s["mean"] for s in stats])
    with_ci = np.array([n >= MIN_CI_SEEDS and bool(s.get("ci95")) for n, s in zip(ns, stats)])
    lo = _arr([s["ci95"][0] if ok else None for s, ok in zip(stats, with_ci)])
    hi = _arr([s["ci95"][1] if ok else None for s, ok in zip(stats, with_ci)])
    seeds = [(xv, v) for xv, s, ok in zip(x, stats, with_ci) if not ok for v in _seed_values(s)]
    if nonnegative is None:
        nonnegative = bool((mean >= 0).all()) and all(v >= 0 for _, v in seeds)
    if nonnegative:
        lo = np.maximum(lo, 0.0)
    fig, (ax,) = _new(1, width=7.5)
    ax.plot(x, mean, "o-", lw=1.5, label="mean over seeds")
    if with_ci.any():
        ax.errorbar(x[with_ci], mean[with_ci], yerr=[(mean - lo)[with_ci], (hi - mean)[with_ci]], fmt="none",
                    capsize=4, lw=1.5, color="C0", label=f"95% CI (n ≥ {MIN_CI_SEEDS})")
    if seeds:
        ax.plot([p[0] for p in seeds], [p[1] for p in seeds], "o", mfc="none", color="C1", ms=6,
                label=f"each seed (n < {MIN_CI_SEEDS}: no CI)")
    log = _positive_log(ax, mean, lo, hi, _arr([v for _, v in seeds]))
    if not log:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    ax.set(title=f"{metric} by {param} (mean over seeds, 95% CI)", xlabel=param, ylabel=metric)
    ax.legend(title=f"n per point: {min(ns)}–{max(ns)}", fontsize=8)
    rows = _rows(x=x.tolist(), mean=mean.tolist(), lo=lo.tolist(), hi=hi.tolist(), n=ns)
    seed_rows = _rows(x=[p[0] for p in seeds], value=[p[1] for p in seeds])
    y_scale = {"type": "log"} if log else {"zero": False}
    vega = {"$schema": VEGA_SCHEMA, "title": f"{metric} by {param}", "data": {"values": rows}, "layer": [
        {"mark": {"type": "line", "point": True}, "encoding": {
            "x": _enc("x", "quantitative", param), "y": _enc("mean", "quantitative", metric, scale=y_scale)}},
        {"mark": "errorbar", "transform": [{"filter": "datum.lo != null"}],
         "encoding": {"x": _enc("x", "quantitative", param),
                      "y": _enc("lo", "quantitative", metric), "y2": {"field": "hi"}}}]}
    if seed_rows:
        vega["layer"].append({"data": {"values": seed_rows}, "mark": {"type": "point", "filled": False},
                              "encoding": {"x": _enc("x", "quantitative", param),
                                           "y": _enc("value", "quantitative", metric)}})
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
