"""skip* (seed 001, table 2): train the vanilla network first, then switch the skips on.

Phase 1 trains with every skip off (`set_skips(False)`). When the rule fires (`_phase1_over` in
the loop), phase 2 switches them on, keeping every main-path weight and its optimizer state.
`train.epochs` counts both phases, so a vanilla comparison gets the same total budget by
training for the same `train.epochs`.

How the skips start (`skip_star.skip_start`):
- "zero" (default): the skip weights are set to zero at the switch and their optimizer state is
  dropped (they start training afresh), so the network right after the switch computes exactly
  the vanilla function it had learnt: the seed's reading "the skip network can choose to ignore
  all skip links" as a continuous switch.
- "as_initialised": the skip weights keep their initialisation (they got no gradient while
  masked; weight decay may have shrunk them), so the function jumps at the switch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

START = ("zero", "as_initialised")


def skip_parameters(model: nn.Module) -> list[Tensor]:
    """The weights through which the skips reach the network (dense_skip_mlp's S_{i->j}; none
    when it was built without skips, so there is nothing to switch)."""
    skips = getattr(model, "skips", None)
    if isinstance(skips, nn.ModuleDict):
        return list(skips.parameters())
    raise ValueError(
        f"skip* with skip_start 'zero' needs skips that have weights (dense_skip_mlp); {type(model).__name__} "
        "has none to start at zero: use skip_start 'as_initialised'"
    )


def check(model: nn.Module, star: Any) -> None:
    """Raise before training when the model cannot start its skips as `star` asks."""
    if star.skip_start == "zero":
        skip_parameters(model)


@torch.no_grad()
def switch_on(model: nn.Module, opt: torch.optim.Optimizer, star: Any) -> None:
    """Phase 2: (zero the skip weights and forget their optimizer state, then) skips on."""
    if star.skip_start == "zero":
        for p in skip_parameters(model):
            p.zero_()
            opt.state.pop(p, None)  # the optimizer initialises a fresh state at the next step
    model.set_skips(True)


def phase1_over(star: Any, epoch: int, val_loss: float, loop: dict[str, Any]) -> bool:
    """The switch rule: a fixed number of phase-1 epochs, or `patience` epochs without improvement
    of the validation loss (never the test split)."""
    if star.rule == "epochs":
        return epoch >= star.phase1_epochs
    if val_loss < loop["phase1_best"] - star.min_delta:
        loop["phase1_best"], loop["bad_epochs"] = val_loss, 0
    else:
        loop["bad_epochs"] += 1
    return loop["bad_epochs"] >= star.patience
