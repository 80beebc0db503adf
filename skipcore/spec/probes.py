"""Probe parameters, one class per probe `name`, discriminated on `name`.

A probe is its class here (it joins `ProbeParams` by being defined, see `skipcore.spec.declared`)
and its module `skipcore.probes.<name>` (`run`, `SUMMARY_KEYS`, `FIGURE`, `AT_INIT`). The class
declares what it needs, checked when an experiment is submitted: `NEEDS_MODEL`, a model interface
its family must provide (`PROVIDES` in `skipcore.spec.models`), `NEEDS_TASK` a data task,
`NEEDS_DATA` particular data sets (None: any).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field

from skipcore.spec.declared import Declared, names, union


class _Probe(Declared):
    TAG: ClassVar[str] = "name"
    KIND: ClassVar[str] = "probe"
    MEMBERS: ClassVar[dict[str, type[Declared]]] = {}
    NEEDS_MODEL: ClassVar[Optional[str]] = None
    NEEDS_TASK: ClassVar[Optional[str]] = None
    NEEDS_DATA: ClassVar[Optional[frozenset[str]]] = None


class WeightMagnitude(_Probe):
    """Mean |W| per layer (seed 000 figs 2/3), recorded every `every` epochs and at the end."""

    name: Literal["weight_magnitude"]
    every: Annotated[int, Field(ge=1, le=100_000)] = 10


class SkipAblation(_Probe):
    """Keep only the first k / last k skips at inference (seed 000 fig 1)."""

    NEEDS_MODEL: ClassVar[Optional[str]] = "layer_skips"
    NEEDS_TASK: ClassVar[Optional[str]] = "regression"
    name: Literal["skip_ablation"]
    ks: Optional[list[Annotated[int, Field(ge=0, le=1000)]]] = Field(
        None, max_length=100, description="default: 0, depth/4, depth/2, 3depth/4, depth"
    )
    grid_points: Annotated[int, Field(ge=2, le=10_000)] = 200


class DepthError(_Probe):
    """Monte-Carlo error (1/M) sum (sin(x_i) - f(x_i))^2 over the training support (seed 000 fig 4)."""

    NEEDS_DATA: ClassVar[Optional[frozenset[str]]] = frozenset({"sine"})  # the error against sin(x)
    name: Literal["depth_error"]
    n_points: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    seed: Annotated[int, Field(ge=0)] = 0


class GradientFlow(_Probe):
    """Per-layer gradient norms at the first K updates and every N epochs."""

    name: Literal["gradient_flow"]
    first_k: Annotated[int, Field(ge=0, le=10_000)] = 10
    every: Annotated[int, Field(ge=1, le=100_000)] = 10


class IdentityRatio(_Probe):
    """Per residual block ||F(x)|| / ||x|| over held-out inputs (seed 004)."""

    NEEDS_MODEL: ClassVar[Optional[str]] = "blocks"
    name: Literal["identity_ratio"]
    n_samples: Annotated[int, Field(ge=1, le=100_000)] = 256


class BlockLesion(_Probe):
    """Remove each block at inference, and k random blocks (Veit et al. 2016)."""

    NEEDS_MODEL: ClassVar[Optional[str]] = "blocks"
    name: Literal["block_lesion"]
    random_k: list[Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=lambda: [2, 4], max_length=20)
    n_random: Annotated[int, Field(ge=1, le=100)] = 5
    n_samples: Annotated[int, Field(ge=1, le=100_000)] = 1024
    seed: Annotated[int, Field(ge=0)] = 0


class LossLandscape(_Probe):
    """1-D/2-D loss slices along filter-normalised random directions (Li et al. 2018)."""

    name: Literal["loss_landscape"]
    dims: Literal[1, 2] = 2
    points: Annotated[int, Field(ge=3, le=101)] = 21
    span: float = Field(1.0, gt=0, le=100)
    n_samples: Annotated[int, Field(ge=1, le=100_000)] = 512
    seed: Annotated[int, Field(ge=0)] = 0


class L1Linearity(_Probe):
    """Which hidden units L1 pruned, and whether what is left is linear (seed 002)."""

    NEEDS_MODEL: ClassVar[Optional[str]] = "skip_layer"
    NEEDS_TASK: ClassVar[Optional[str]] = "regression"
    name: Literal["l1_linearity"]
    threshold: float = Field(1e-3, gt=0, le=10)
    grid_points: Annotated[int, Field(ge=2, le=100_000)] = 512


ProbeParams = union(_Probe)
PROBE_SPECS = _Probe.MEMBERS  # name -> spec class
PROBE_NAMES = names(_Probe)
