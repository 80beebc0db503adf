"""Claim 7: seed 002's L1-penalised skip-layer MLP on linear and non-linear data (no stand-ins)."""

from __future__ import annotations

from pathlib import Path

from reproduce import figs
from reproduce.runner import Study
from reproduce.stats import greater, paired, stat
from reproduce.verdict import Claim, Outcome


def claim7(st: dict[str, Study], figdir: Path) -> Outcome:
    s, out = st["002_l1_skip_layer_linearity"], Outcome()
    levels = sorted(p["data.nonlinear"] for p in s.points())
    lin, non = levels[0], levels[-1]
    fp = {lv: s.summary("l1_linearity.fraction_pruned", data__nonlinear=lv) for lv in levels}
    share = {lv: s.values(lambda r: s.probe(r, "l1_linearity")["hidden_share"], data__nonlinear=lv) for lv in levels}
    r2 = {lv: s.values(lambda r: s.probe(r, "l1_linearity")["r2"], data__nonlinear=lv) for lv in levels}
    for lv in levels:
        out.measure(f"nonlinear={lv}: fraction of hidden units pruned", stat(fp[lv].values()))
        out.measure(f"nonlinear={lv}: share of the output from hidden units", stat(share[lv].values()))
        out.measure(f"nonlinear={lv}: R² of a linear fit to the network's function", stat(r2[lv].values()))
    d = paired(fp[lin], fp[non])
    out.measure(f"pruned fraction, nonlinear={lin} − nonlinear={non} (paired)", d)
    out.check(f"linear problem: most hidden units pruned, fraction > 0.8", greater(stat(fp[lin].values()), 0.8))
    out.check("and more than with a non-linear component: difference > 0", greater(d, 0))
    out.figures.append(figs.bars(figdir / "claim07_l1_pruning.png", "claim 7: L1 + skip-layer MLP (mean, 95% CI)",
                                 [f"nonlinear={lv}" for lv in levels],
                                 {"fraction pruned": [stat(fp[lv].values()) for lv in levels],
                                  "hidden share of output": [stat(share[lv].values()) for lv in levels]},
                                 "fraction"))
    return out


CLAIMS = [
    Claim(7, "002", "L1 + skip-layer connections prune a linear problem to its linear term",
          "With an L1 penalty and skip-layer (input-to-output) connections, a linear problem prunes the hidden "
          "units away, leaving the linear term.",
          ["002_l1_skip_layer_linearity"],
          "fraction pruned = the l1_linearity probe's hidden units whose in- and out-weights are all below the "
          "threshold. Conditions: on the linear problem (nonlinear=0) the fraction > 0.8; and it is larger than "
          "with the non-linear component (paired difference > 0).", claim7,
          seed_setup=dict(family="skip_layer_mlp")),
]
