"""Small statistics for results across seeds, without scipy: mean, sample std, Student-t 95% CI.

`t975(df)` is the two-sided 95% quantile of Student's t (the 0.975 quantile) with `df` degrees of
freedom, found by bisection on the exact CDF (regularized incomplete beta by Lentz's continued
fraction, Numerical Recipes §6.4), so it is exact far beyond 3 decimals: t975(1) = 12.7062,
t975(2) = 4.3027, t975(4) = 2.7764, t975(9) = 2.2622, t975(29) = 2.0452; as df → ∞ it tends to
the normal 1.95996.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Optional, TypedDict

Z975 = 1.959963984540054  # the normal 0.975 quantile: the limit of t975 as df grows
# summary keys the worker adds about how a run was executed (seeds trained as one ensemble, the
# checkpoint an attempt resumed from): never a result, so never a metric in aggregate or compare
BOOKKEEPING = frozenset({"ensemble_size", "resumed_from"})


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: int) -> float:
    """The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of freedom, by bisection."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"p must be in (0.5, 1), got {p}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def t975(df: int) -> float:
    """Two-sided 95% Student-t critical value (the 0.975 quantile) for `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df > 100_000:  # indistinguishable from the normal quantile at 5 decimals
        return Z975
    return t_quantile(0.975, int(df))


class Summary(TypedDict):
    mean: Optional[float]
    std: Optional[float]
    ci95: Optional[list[float]]
    n: int


def finite_number(v: object) -> Optional[float]:
    """`v` as a float when it is a finite JSON number (bools are not numbers here), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def summarize(values: Iterable[Optional[float]]) -> Summary:
    """Mean, sample std (ddof=1) and the Student-t 95% CI of the mean over the finite values.

    n = 0 gives all nulls; n = 1 gives the mean with null std and CI (no spread from one value).
    """
    xs = [x for x in (finite_number(v) for v in values) if x is not None]
    n = len(xs)
    if n == 0:
        return Summary(mean=None, std=None, ci95=None, n=0)
    mean = math.fsum(xs) / n
    if n < 2:
        return Summary(mean=mean, std=None, ci95=None, n=1)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * std / math.sqrt(n)
    return Summary(mean=mean, std=std, ci95=[mean - half, mean + half], n=n)


def summarize_columns(rows: list[list[Optional[float]]]) -> dict[str, list]:
    """Per-column `summarize` of rows of equal meaning (one row per run, one column per layer).

    Rows may differ in length; each column uses the values present.
    """
    width = max((len(r) for r in rows), default=0)
    cols = [summarize(r[i] if i < len(r) else None for r in rows) for i in range(width)]
    return {
        "mean": [c["mean"] for c in cols],
        "std": [c["std"] for c in cols],
        "ci95": [c["ci95"] for c in cols],
        "n": [c["n"] for c in cols],
    }
