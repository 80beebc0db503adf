"""Multiply-adds of seed 001's CNNs per image, from the layer table of `skipcore.models.cnn` (the
model module documents it; a test checks these counts against the built torch modules). The
training-time claim (widened vs skip CNN) is checked against this analytic ratio."""

from __future__ import annotations

SKIPS = ((1, 4), (2, 5), (4, 7), (5, 8))
CONV_LAYERS = (1, 2, 4, 5, 7, 8)
STAGE = {1: 0, 2: 0, 4: 1, 5: 1, 7: 2, 8: 2}  # max-pools before layers 4 and 7 halve the maps


def widths(family: str, width_mult: float = 1.0) -> dict[int, int]:
    c1, c2, c3 = (max(1, round(c * width_mult)) for c in (32, 64, 128))
    if family == "widened_cnn":
        return {1: c1, 2: c1, 4: c2 + c1, 5: c2 + c1, 7: c3 + c2 + c1, 8: c3 + c2 + c1}
    return {1: c1, 2: c1, 4: c2, 5: c2, 7: c3, 8: c3}


def cnn_macs(family: str, image_size: int = 32, in_channels: int = 3, n_classes: int = 10,
             width_mult: float = 1.0) -> int:
    """Multiply-adds of the 3x3 convs and the classifier for one image (BN, ReLU and pools not counted)."""
    w, skips = widths(family, width_mult), family == "skip_cnn"
    total, prev, chans = 0, in_channels, {}
    for layer in CONV_LAYERS:
        side = max(1, image_size // 2 ** STAGE[layer])
        total += side * side * prev * w[layer] * 9
        chans[layer] = w[layer] + (sum(chans[s] for s, d in SKIPS if d == layer) if skips else 0)
        prev = chans[layer]
    return total + prev * 16 * n_classes


def macs_ratio(a: str, b: str, **kw) -> float:
    return cnn_macs(a, **kw) / cnn_macs(b, **kw)
