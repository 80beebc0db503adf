"""Training parameters: optimizer, learning rate, epochs, batch size, validation cadence, skip* phases."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_EPOCHS = 100_000
VAL_PASSES = 100  # `val_every: auto`: at most about this many validation passes per run, plus the last epoch
VAL_FULL_BATCH = 10  # `val_every: auto` where an epoch is one optimizer step: at least every this many epochs


class SkipStar(BaseModel):
    """Seed 001's two-phase "skip*" training: skips off until a rule fires (read on the validation
    split), then on, every weight kept. `train.epochs` is the total of both phases: a vanilla run
    compared with skip* gets the same budget when it sets the same `train.epochs`."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["epochs", "patience"] = "patience"
    phase1_epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = 10
    patience: Annotated[int, Field(ge=1, le=10_000)] = 5
    min_delta: float = Field(0.0, ge=0)
    skip_start: Literal["zero", "as_initialised"] = Field(
        "zero",
        description="'zero': the skip weights are zero (optimizer state fresh) when the skips switch on, so the "
        "network computes the vanilla function it learnt and the switch is continuous; 'as_initialised': they "
        "keep their initial (untrained) values and the function jumps at the switch. 'zero' needs skips with "
        "weights (dense_skip_mlp)",
    )


class TrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    l1: float = Field(0.0, ge=0, le=10, description="L1 penalty on weight matrices (seed 002)")
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = 100
    batch_size: Optional[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        32, description="null trains full batch"
    )
    grad_clip: Optional[float] = Field(None, gt=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    log_every: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = Field(
        1, description="epochs between per-layer statistics records"
    )
    checkpoint_every: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = Field(
        10, description="epochs between checkpoints; only a run's latest is kept, to resume it (bit-identically, "
        "from any epoch). The service's workers store them at least SKIPCORE_CHECKPOINT_MIN_SECONDS (5 s) apart, "
        "and always the last epoch's and a stopping run's"
    )
    val_every: Union[Literal["auto"], Annotated[int, Field(ge=1, le=MAX_EPOCHS)]] = Field(
        "auto",
        description="epochs between validation passes; the last epoch (and the init, where a probe records "
        "epoch 0) is always validated. 'auto': every epoch for skip* (its switch reads every epoch's validation "
        "loss); otherwise every ceil(epochs / 100) epochs, which is every epoch up to 100 epochs, but at least "
        "every 10th epoch where an epoch is a single optimizer step (full batch), since a validation forward "
        "then costs a large part of each step. Set 1 to validate every epoch (e.g. a full-batch run whose "
        "best_val_loss is compared with a skip* run's). Validation never changes training (same "
        "weights and training losses for any value); the value used is the run summary's `val_every`",
    )
    skip_star: Optional[SkipStar] = Field(
        None, description="seed 001's skip* schedule; `epochs` counts both of its phases (give a vanilla "
        "comparison the same `epochs`)"
    )

    @model_validator(mode="after")
    def _phases_fit(self) -> "TrainParams":
        if self.skip_star and self.skip_star.rule == "epochs" and self.skip_star.phase1_epochs >= self.epochs:
            raise ValueError(
                f"skip_star.phase1_epochs ({self.skip_star.phase1_epochs}) must be below epochs ({self.epochs})"
            )
        if self.skip_star and self.val_every not in ("auto", 1):
            raise ValueError(
                f"val_every ({self.val_every}) must be 1 or 'auto' with skip_star: its switch rule reads the "
                "validation loss of every epoch"
            )
        return self

    def val_interval(self, steps_per_epoch: int) -> int:
        """The epochs between validation passes that `val_every` means for this run, whose epochs
        take `steps_per_epoch` optimizer steps each (see the field's description)."""
        if self.val_every != "auto":
            return self.val_every
        if self.skip_star is not None:
            return 1
        every = max(1, -(-self.epochs // VAL_PASSES))
        return max(every, VAL_FULL_BATCH) if steps_per_epoch <= 1 else every

    def validates_at(self, epoch: int, steps_per_epoch: int) -> bool:
        """Whether epoch `epoch` (1-based) ends with a validation pass: every `val_interval` and the last."""
        return epoch % self.val_interval(steps_per_epoch) == 0 or epoch == self.epochs
