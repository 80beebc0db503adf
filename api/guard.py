"""Resource guard: estimate parameters and activation memory from a spec (no torch), and refuse
specs over the configured limits with a 422 that shows the estimate, before anything is queued.

The numbers come from the spec classes' declarations: the data set's `info()` (input shape,
outputs) and the model family's `estimate(info)`, the exact parameter count and the floats per
sample its weight layers output (`skipcore.spec.sizes`). Memory: weights + Adam state are counted
as parameters; activations of one batch are kept for backward at about 3 floats per output
(pre-activation, activation, gradient), 4 bytes each.
"""

from __future__ import annotations

from typing import Any, Optional

from persistence.settings import Settings
from skipcore.spec import ExperimentSpec

BYTES_PER_ACTIVATION = 4 * 3  # float32, about three kept per output for the backward pass


def input_shape(spec: ExperimentSpec) -> tuple[int, ...]:
    return spec.data.info().in_shape


def estimate(spec: ExperimentSpec) -> dict[str, int]:
    """{'parameters': P, 'activation_bytes': A} for the biggest run of the spec."""
    worst = {"parameters": 0, "activation_bytes": 0}
    for plan in spec.expand() if spec.sweep else [None]:
        s = plan.spec if plan is not None else spec
        est = _one(s)
        worst = {k: max(worst[k], est[k]) for k in worst}
    return worst


def _one(spec: ExperimentSpec) -> dict[str, int]:
    est = spec.model.estimate(spec.data.info())
    batch = spec.train.batch_size or spec.data.train_size()
    return {"parameters": est.parameters, "activation_bytes": int(batch) * est.activations * BYTES_PER_ACTIVATION}


def check_resources(spec: ExperimentSpec, settings: Settings) -> Optional[dict[str, Any]]:
    """None when the spec fits; otherwise a 422 error entry naming the estimate and the limit."""
    est = estimate(spec)
    if est["parameters"] > settings.max_parameters:
        return {"field": "model", "type": "resource_limit",
                "message": f"about {est['parameters']:,} parameters; the limit is {settings.max_parameters:,} "
                           "(SKIPCORE_MAX_PARAMETERS)", "estimate": est}
    if est["activation_bytes"] > settings.max_activation_bytes:
        return {"field": "train.batch_size", "type": "resource_limit",
                "message": f"about {est['activation_bytes'] / 2**30:.1f} GiB of activations per batch; the limit is "
                           f"{settings.max_activation_bytes / 2**30:.1f} GiB (SKIPCORE_MAX_ACTIVATION_BYTES)",
                "estimate": est}
    return None
