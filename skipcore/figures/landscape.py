"""Loss landscape (Li et al. 2018): a 1-D line or a 2-D contour of the loss around the trained weights."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from skipcore.figures.common import Figure, _arr, _enc, _fmt, _new, _positive_log, _render, _rows, _safe, _vega


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
