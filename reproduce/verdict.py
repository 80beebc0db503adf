"""A claim, what was measured for it, and the one rule that turns conditions into a verdict.

The rule, the same for every claim and fixed before any number was looked at:
- each claim is split into conditions, each a statement about a mean with its 95% CI (over >= 3
  seeds) against a threshold written in the claim's `rule` text;
- a condition *passes* when the whole CI lies on the claimed side, *fails* when the whole CI lies on
  the other side, and is *unclear* otherwise (or with fewer than 2 values);
- **reproduced** when every condition passes, **not reproduced** when any condition fails,
  **inconclusive at this scale** otherwise;
- a claim about a named data set (EMNIST, CIFAR-10) measured on a generated stand-in is at best
  **inconclusive at this scale**: the stand-in outcome is still stated;
- a claim whose runs did not all succeed is inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from reproduce.stats import FAIL, PASS

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive at this scale"


@dataclass
class Outcome:
    measured: list[tuple[str, str]] = field(default_factory=list)  # (what, "mean ± CI ...")
    conditions: list[tuple[str, str]] = field(default_factory=list)  # (statement, pass|fail|unclear)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def measure(self, what: str, value: object) -> None:
        self.measured.append((what, str(value)))

    def check(self, statement: str, state: str) -> None:
        self.conditions.append((statement, state))


@dataclass
class Claim:
    number: int
    seed: str
    title: str
    statement: str
    specs: list[str]
    rule: str
    evaluate: Callable[[dict, Path], Outcome]
    stand_in: Optional[str] = None  # why the data here is a stand-in for the claim's data set


def decide(claim: Claim, out: Outcome, failed_runs: list[str]) -> tuple[str, str]:
    """(verdict, one line why)."""
    states = [s for _, s in out.conditions]
    if failed_runs:
        return INCONCLUSIVE, f"{len(failed_runs)} run(s) did not succeed: {failed_runs[0]}"
    if not states:
        return INCONCLUSIVE, "nothing could be measured"
    fails = [c for c, s in out.conditions if s == FAIL]
    unclear = [c for c, s in out.conditions if s not in (PASS, FAIL)]
    if fails:
        verdict, why = NOT_REPRODUCED, "fails: " + "; ".join(fails)
    elif unclear:
        verdict, why = INCONCLUSIVE, "CI straddles the threshold: " + "; ".join(unclear)
    else:
        verdict, why = REPRODUCED, "every condition passes with its whole 95% CI on the claimed side"
    if claim.stand_in and verdict != INCONCLUSIVE:
        return INCONCLUSIVE, f"stand-in data ({claim.stand_in}); on the stand-in it would be {verdict}: {why}"
    if claim.stand_in:
        return INCONCLUSIVE, f"stand-in data ({claim.stand_in}); {why}"
    return verdict, why
