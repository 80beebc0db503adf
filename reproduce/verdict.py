"""A claim, what was measured for it, and the one rule that turns conditions into a verdict.

The rule, the same for every claim and fixed before any number was looked at:
- each claim is split into conditions, each a statement about a mean with its 95% CI (over >= 5
  seeds at the seed's scale, >= 3 otherwise) against a threshold written in the claim's `rule` text;
- a condition *passes* when the whole CI lies on the claimed side, *fails* when the whole CI lies on
  the other side, and is *unclear* otherwise (or with fewer than 2 values); an equivalence or "no
  worse" condition passes only when the whole CI lies inside its margin (accuracy: ±0.02; losses
  and times: 5% of the reference arm), the same margin style for every claim;
- a verdict carries its scale: **reproduced** when every condition passes, **not reproduced** when any
  condition fails, **inconclusive** otherwise, and only for a claim run at the seed's own set-up on
  the seed's data (scale "seed's");
- a claim run at reduced size (fewer epochs, smaller networks) or on generated stand-in data for a
  named data set (EMNIST, CIFAR-10) is **not decided at this scale**, with the direction it leaned
  (where each condition's mean fell) stated;
- a claim whose runs did not all succeed is inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from reproduce.stats import FAIL, PASS

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_DECIDED = "not decided at this scale"
SEEDS_SCALE, REDUCED, STAND_IN = "seed's", "reduced", "stand-in"
DATA = {"sine": "sin(x), generated", "linear_plus_noise": "linear + noise, generated",
        "digits": "digits: real 8×8 handwriting (not EMNIST letters)", "diabetes": "diabetes: real regression set",
        "fake_images": "fake_images: generated stand-in images", "cifar10": "CIFAR-10",
        "emnist_letters": "EMNIST letters"}


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

    def leaned(self) -> str:
        """The verdict the conditions' means alone would give (where each mean fell)."""
        leans = [getattr(s, "lean", s) for _, s in self.conditions]
        return NOT_REPRODUCED if FAIL in leans else REPRODUCED if leans and all(x == PASS for x in leans) \
            else INCONCLUSIVE


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
    seed_setup: dict = field(default_factory=dict)  # aspect -> the seed's value (`reproduce.setup.ASPECTS`)


def claim_scale(claim: Claim, studies: dict) -> tuple[str, str]:
    """(scale, data) of a claim from its studies: stand-in when any trains on generated images for a
    named data set, reduced when any runs below the seed's size, else the seed's."""
    names = list(dict.fromkeys(studies[b].spec["data"]["name"] for b in claim.specs))
    data = "; ".join(DATA.get(n, n) for n in names)
    if claim.stand_in and "fake_images" in names:
        return STAND_IN, data
    if any(studies[b].level != "seed" for b in claim.specs) or "fake_images" in names:
        return REDUCED, data
    return SEEDS_SCALE, data


def decide(claim: Claim, out: Outcome, failed_runs: list[str], scale: tuple[str, str] = (SEEDS_SCALE, "")
           ) -> tuple[str, str]:
    """(verdict, one line why); `scale` from `claim_scale`."""
    verdict, why = _decide(out, failed_runs)
    if scale[0] == SEEDS_SCALE:
        return verdict, why
    lean = out.leaned()
    what = f"stand-in data ({claim.stand_in})" if scale[0] == STAND_IN else "run below the seed's size"
    return NOT_DECIDED, f"{what}; leaned {lean} (by the means); at this scale it would be {verdict}: {why}"


def _decide(out: Outcome, failed_runs: list[str]) -> tuple[str, str]:
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
    return verdict, why
