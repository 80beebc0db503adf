"""Small statistics for results across seeds: mean, sample std, Student-t 95% CI, and the
grouping of runs by sweep point. Pure Python (scipy for the t quantile): no torch, no drawing, so
the API and the worker read the same numbers.

`t975(df)` is the two-sided 95% critical value of Student's t (the 0.975 quantile) with `df`
degrees of freedom, `scipy.stats.t.ppf(0.975, df)`: t975(1) = 12.7062, t975(2) = 4.3027,
t975(29) = 2.0452, t975(40) = 2.0211; as df grows it tends to the normal 1.95996.
"""

from __future__ import annotations

import math
from functools import lru_cache
import json
from typing import Any, Iterable, Optional, Sequence, TypedDict

# summary keys the worker adds about how a run was executed (seeds trained as one ensemble, the
# checkpoint an attempt resumed from): never a result, so never a metric in aggregate or compare
BOOKKEEPING = frozenset({"ensemble_size", "resumed_from", "val_every"})


@lru_cache(maxsize=4096)
def t975(df: int) -> float:
    """Two-sided 95% Student-t critical value (the 0.975 quantile) for `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    from scipy.stats import t as student_t  # imported on first use: scipy.stats is slow to import

    return float(student_t.ppf(0.975, df))


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


def by_sweep_point(runs: Sequence[Any], cols: Sequence[str]) -> list[tuple[dict, int, int, dict[str, dict]]]:
    """Per sweep point (runs grouped by `params`, in run order): (params, succeeded n, runs, stats per
    column). A run has `params`, `status` and `finals` (its final numbers); each column's stats are
    `summarize` over the succeeded runs plus their finite `values`."""
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r.params, sort_keys=True), []).append(r)
    out = []
    for members in groups.values():
        done = [r for r in members if r.status == "succeeded"]
        stats = {c: dict(summarize(r.finals.get(c) for r in done),
                         values=[v for r in done if (v := finite_number(r.finals.get(c))) is not None]) for c in cols}
        out.append((members[0].params, len(done), len(members), stats))
    return out
