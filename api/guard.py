"""Resource guard: estimate parameters and activation memory from a spec (no torch), and refuse
specs over the configured limits with a 422 that shows the estimate, before anything is queued.

Estimates are upper-bound-ish, not exact: weights + Adam state (3x), activations of one batch
kept for backward (about 3 floats per unit per layer).
"""

from __future__ import annotations

from typing import Any, Optional

from persistence.settings import Settings
from skipcore.spec import ExperimentSpec

# data sets whose input shape is fixed by the data (not by spec fields)
_IMAGE = {"cifar10": (3, 32, 32), "emnist_letters": (1, 28, 28), "digits": (1, 8, 8), "diabetes": (10,)}


def input_shape(spec: ExperimentSpec) -> tuple[int, ...]:
    d = spec.data
    if d.name == "sine":
        return (1,)
    if d.name == "linear_plus_noise":
        return (d.in_features,)
    if d.name in _IMAGE:
        return _IMAGE[d.name]
    channels = getattr(d, "channels", 3)
    return (channels, d.image_size, d.image_size)


def estimate(spec: ExperimentSpec) -> dict[str, int]:
    """{'parameters': P, 'activation_bytes': A} for the biggest run of the spec."""
    worst = {"parameters": 0, "activation_bytes": 0}
    for plan in spec.expand() if spec.sweep else [None]:
        s = plan.spec if plan is not None else spec
        est = _one(s)
        worst = {k: max(worst[k], est[k]) for k in worst}
    return worst


def _one(spec: ExperimentSpec) -> dict[str, int]:
    m = spec.model
    shape = input_shape(spec)
    n_in = 1
    for x in shape:
        n_in *= x
    batch = spec.train.batch_size or getattr(spec.data, "n_train", 50_000)
    if m.family in ("plain_mlp", "telescope_mlp", "highway_mlp", "skip_layer_mlp"):
        w, depth = max(m.width, 1), m.depth
        per_layer = w * w * (2 if m.family == "highway_mlp" else 1)
        params = n_in * w + depth * per_layer + w * 100
        units = depth * w
    elif m.family == "resnet_mlp":
        w, depth = m.width, m.depth
        params = n_in * w + depth * 2 * w * w + w * 100
        units = depth * 2 * w
    elif m.family == "dense_skip_mlp":
        sizes = [n_in, *m.widths]
        params = sum(sizes[i] * sizes[j] for j in range(1, len(sizes)) for i in range(j))
        units = sum(m.widths)
    else:  # convolutional families
        hw = shape[1] * shape[2] if len(shape) == 3 else 1024
        if m.family == "resnet_cnn":
            n = (m.depth - 2) // 6
            widths = m.widths
            params = sum(2 * n * 9 * w * w for w in widths)
            units = sum(2 * n * w * hw // (4**i) for i, w in enumerate(widths))
        elif m.family == "densenet_cnn":
            k, layers = m.growth_rate, sum(m.block_layers)
            c = m.init_channels + k * layers
            params = layers * 9 * k * c
            units = layers * c * hw
        elif m.family == "unet":
            c = m.base_channels
            params = sum(18 * (c * 2**i) ** 2 for i in range(m.depth + 1)) * 2
            units = sum(4 * c * 2**i * hw // (4**i) for i in range(m.depth + 1)) * 2
        else:  # seed 001 CNNs
            mult = getattr(m, "width_mult", 1.0)
            params = int(2_500_000 * mult * mult)
            units = int(96 * hw * 4 * mult)
    activation_bytes = int(batch) * int(units) * 4 * 3
    return {"parameters": int(params), "activation_bytes": activation_bytes}


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
