"""The report's figures: a few plain matplotlib shapes (Agg, headless), saved as PNG.

Each helper takes already-computed numbers (means and CIs from `stats`), so a figure shows exactly
what the report's text states. No torch, no skipcore imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from reproduce.stats import Stat  # noqa: E402

COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def log_safe(stats: Sequence[Stat]) -> bool:
    """A log axis may show these only when every mean and every CI bound is > 0 (a CI reaching zero or
    below has no place on a log axis: the figure then uses a linear one)."""
    vals = [v for s in stats for v in (s.mean, s.lo, s.hi) if v is not None]
    return bool(vals) and all(v > 0 for v in vals)


def with_n(label: str, stats: Sequence[Stat]) -> str:
    """The legend label with its number of values (n, or its range over the points) unless it says it."""
    ns = sorted({s.n for s in stats if s.n})
    if "n=" in label or not ns:
        return label
    return f"{label} (n={ns[0]})" if len(ns) == 1 else f"{label} (n={ns[0]}-{ns[-1]})"


def _err(stats: Sequence[Stat]) -> tuple[list[float], list[list[float]]]:
    means = [s.mean if s.mean is not None else float("nan") for s in stats]
    lo = [(s.mean - s.lo) if s.lo is not None else 0.0 for s in stats]
    hi = [(s.hi - s.mean) if s.hi is not None else 0.0 for s in stats]
    return means, [lo, hi]


def bars(path: Path, title: str, groups: list[str], series: dict[str, list[Stat]], ylabel: str,
         logy: bool = False, hline: Optional[float] = None) -> Path:
    """Grouped bars (one group per x label, one bar per series) with 95% CI error bars."""
    fig = Figure(figsize=(max(5.0, 1.2 * len(groups) * max(1, len(series)) ** 0.5 + 2), 3.8))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(series))
    for i, (label, stats) in enumerate(series.items()):
        means, err = _err(stats)
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, means, width, yerr=err, capsize=3, label=with_n(label, stats), color=COLORS[i % len(COLORS)])
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    if hline is not None:
        ax.axhline(hline, color="k", lw=0.8, ls="--")
    if logy and log_safe([st for stats in series.values() for st in stats]):
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def lines(path: Path, title: str, series: dict[str, tuple[list[float], list[Stat]]], xlabel: str, ylabel: str,
          logy: bool = False, logx: bool = False, vspan: Optional[tuple[float, float]] = None) -> Path:
    """Mean curves with a shaded 95% CI band, one per series (see `lines_figure`)."""
    return _save(lines_figure(title, series, xlabel, ylabel, logy, logx, vspan), path)


def lines_figure(title: str, series: dict[str, tuple[list[float], list[Stat]]], xlabel: str, ylabel: str,
                 logy: bool = False, logx: bool = False, vspan: Optional[tuple[float, float]] = None) -> Figure:
    """One quantity on the y axis; a log y axis only when `log_safe` (else linear); every legend
    label states its n."""
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot()
    for i, (label, (xs, stats)) in enumerate(series.items()):
        means, _ = _err(stats)
        c = COLORS[i % len(COLORS)]
        ax.plot(xs, means, marker="o", ms=3, color=c, label=with_n(label, stats))
        band = [(x, s.lo, s.hi) for x, s in zip(xs, stats) if s.lo is not None]
        if band:
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color=c, alpha=0.2)
    if vspan:
        ax.axvspan(*vspan, color="grey", alpha=0.15, label="seed's band")
    if logy and log_safe([st for _, stats in series.values() for st in stats]):
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def curves(path: Path, title: str, x: list[float], ys: dict[str, list[float]], xlabel: str, ylabel: str) -> Path:
    """Plain curves (one run's functions, e.g. the realised f(x))."""
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.add_subplot()
    for i, (label, y) in enumerate(ys.items()):
        ax.plot(x, y, color="k" if label == "target" else COLORS[i % len(COLORS)],
                ls="--" if label == "target" else "-", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def contours(path: Path, title: str, panels: dict[str, tuple[list[float], list[list[float]]]]) -> Path:
    """One 2-D loss surface (log10 loss) per panel, on the probe's alpha grid."""
    import numpy as np

    fig = Figure(figsize=(4.2 * len(panels), 3.8))
    for i, (label, (alphas, loss)) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        z = np.log10(np.clip(np.array(loss, dtype=float), 1e-12, None))
        cs = ax.contourf(alphas, alphas, z, levels=20, cmap="viridis")
        fig.colorbar(cs, ax=ax, label="log10 loss")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
