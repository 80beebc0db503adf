"""Figures across runs (a depth sweep from an aggregate) and over training (loss and accuracy curves)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from skipcore.figures.common import (VEGA_SCHEMA, Figure, _arr, _enc, _new, _num, _positive_log, _render, _rows, _safe,
                                     _vega)


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
