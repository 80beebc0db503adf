"""Per-block bar figures (downsampling blocks coloured apart): block lesion, identity ratio."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from matplotlib.patches import Patch

from skipcore.figures.common import (DOWN, OTHER, Figure, _arr, _enc, _fmt, _layer_ticks, _new, _render, _rows, _safe,
                                     _vega)


def _block_bars(name: str, title: str, blocks: list[str], down: list[bool], panels: list[tuple]) -> Figure:
    idx = np.arange(1, len(blocks) + 1)
    colors = [DOWN if d else OTHER for d in down]
    fig, axes = _new(len(panels), width=6.5 if len(panels) > 1 else 8.0)
    rows: list[dict] = []
    for ax, (ylabel, vals, extras) in zip(axes, panels):
        ax.bar(idx, vals, color=colors)
        for label, values, style in extras or []:  # markers over the bars: (label, values, matplotlib style)
            ax.plot(idx, values, style, ms=4, label=label)
        ax.axhline(0, color="black", lw=0.8)
        ax.set(ylabel=ylabel)
        _layer_ticks(ax, blocks, noun="block")
        handles = [Patch(color=DOWN, label="downsampling block"),
                   Patch(color=OTHER, label="shape-preserving block")]
        ax.legend(handles=handles + ax.get_legend_handles_labels()[0], fontsize=8)
        rows += _rows(block=idx.tolist(), name=blocks, value=vals.tolist(), downsample=down,
                      measure=[ylabel] * len(blocks))
    fig.suptitle(title)
    vega = _vega(title, rows, mark={"type": "bar", "tooltip": True}, encoding={
        "x": _enc("block", "ordinal", "block (1 = first, in forward order)"), "y": _enc("value", "quantitative", ""),
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
    """Seed 004: ||F(x)|| / ||x|| per residual block (bars = mean, diamonds = median, crosses = the
    mean at initialisation when the result has "at_init")."""
    blocks, down, ratio = list(result["blocks"]), [bool(d) for d in result["downsample"]], _arr(result["ratio"])
    median = _arr(result.get("median") or [])
    init = _arr((result.get("at_init") or {}).get("ratio") or [])
    if not blocks or not (len(blocks) == len(down) == len(ratio)):
        return None
    extra = [("median", median, "kD")] if len(median) == len(blocks) else []
    if len(init) == len(blocks):
        extra.append(("mean at initialisation", init, "rx"))
    return _block_bars("identity_ratio", "Identity ratio ||F(x)|| / ||x|| per block (0 = identity)", blocks,
                       down, [("||F(x)|| / ||x|| (mean over samples)", ratio, extra)])
