"""Means with Student-t 95% confidence intervals, paired differences by seed, and the three-way
conditions every verdict is built from (pass / fail / unclear). Quantiles from scipy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional

PASS, FAIL, UNCLEAR = "pass", "fail", "unclear"
# One margin style for every equivalence or "no worse" condition: the whole 95% CI must lie inside the
# margin to pass, wholly outside to fail. Accuracy differences: two points; losses and times: 5% of the
# reference arm's value (a relative difference).
MARGIN_ACC, MARGIN_REL = 0.02, 0.05


class State(str):
    """pass / fail / unclear, plus `lean`: where the mean alone falls (pass or fail), so an unclear or
    undecided condition still says which way it leaned."""

    lean: str

    def __new__(cls, state: str, lean: str) -> "State":
        obj = super().__new__(cls, state)
        obj.lean = lean
        return obj


@lru_cache(maxsize=1024)
def t975(df: int) -> float:
    """Two-sided 95% Student-t critical value (the 0.975 quantile) for df >= 1: scipy's, the same
    number the API's /aggregate uses."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


@dataclass
class Stat:
    mean: Optional[float]
    lo: Optional[float]
    hi: Optional[float]
    n: int

    def __str__(self) -> str:
        if self.mean is None:
            return "n/a (no finite values)"
        if self.lo is None:
            return f"{_g(self.mean)} (n={self.n}, no CI)"
        return f"{_g(self.mean)} ± {_g(self.hi - self.mean)} (95% CI [{_g(self.lo)}, {_g(self.hi)}], n={self.n})"


def _g(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def stat(values: Iterable[Optional[float]]) -> Stat:
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Stat(None, None, None, 0)
    m = sum(xs) / n
    if n < 2:
        return Stat(m, None, None, n)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return Stat(m, m - h, m + h, n)


def from_api(s) -> Stat:
    """A `client.Stat` of /aggregate or /compare (mean, ci95) as a Stat."""
    if s is None or s.mean is None:
        return Stat(None, None, None, 0)
    lo, hi = (s.ci95 or [None, None])
    return Stat(s.mean, lo, hi, s.n)


def paired(a: dict[int, Optional[float]], b: dict[int, Optional[float]]) -> Stat:
    """a - b over the seeds both have (the same seed = the same data and init stream)."""
    return stat(a[k] - b[k] for k in sorted(set(a) & set(b)) if a[k] is not None and b[k] is not None)


def ratio(a: dict[int, Optional[float]], b: dict[int, Optional[float]]) -> Stat:
    return stat(a[k] / b[k] for k in sorted(set(a) & set(b)) if a[k] is not None and b[k])


# ---- conditions: `pass` when the whole CI is on the claimed side, `fail` when the whole CI is on the
# other side, `unclear` otherwise (including n < 2, where there is no CI).


def greater(s: Stat, thr: float) -> State:
    if s.lo is None:
        return State(UNCLEAR, PASS if s.mean is not None and s.mean > thr else FAIL)
    return State(PASS if s.lo > thr else FAIL if s.hi < thr else UNCLEAR, PASS if s.mean > thr else FAIL)


def less(s: Stat, thr: float) -> State:
    if s.lo is None:
        return State(UNCLEAR, PASS if s.mean is not None and s.mean < thr else FAIL)
    return State(PASS if s.hi < thr else FAIL if s.lo > thr else UNCLEAR, PASS if s.mean < thr else FAIL)


def within(s: Stat, lo: float, hi: float) -> State:
    inside = s.mean is not None and lo <= s.mean <= hi
    if s.lo is None:
        return State(UNCLEAR, PASS if inside else FAIL)
    if lo <= s.lo and s.hi <= hi:
        return State(PASS, PASS)
    return State(FAIL if s.hi < lo or s.lo > hi else UNCLEAR, PASS if inside else FAIL)


def equivalent(s: Stat, margin: float) -> State:
    """No difference: the whole CI of a difference inside ±margin."""
    return within(s, -margin, margin)


def no_worse(s: Stat, margin: float) -> State:
    """Not higher by more than the margin (a loss or a time): the whole CI below +margin."""
    return less(s, margin)
