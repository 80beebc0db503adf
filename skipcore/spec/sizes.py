"""Size arithmetic for the model families' estimates, without torch.

An `Estimate` is what one network of a family costs: `parameters`, the exact count of its trainable
parameters (what `sum(p.numel() for p in model.parameters())` gives), and `activations`, the floats
per sample that its weight layers (Linear, Conv2d, ConvTranspose2d) output in one forward pass,
also exact. Tests compare both with the built torch module of every family.

The helpers mirror torch's layers: `linear`, `conv` (a k x k convolution on an (h, w) output map),
`batch_norm`, `chain` (a stack of Linear layers). `seed_widths` / `layer_channels` are the seed-001
CNN's channel tables, shared with `skipcore.models.cnn`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Estimate:
    parameters: int
    activations: int  # floats per sample output by the weight layers

    def __add__(self, other: "Estimate") -> "Estimate":
        return Estimate(self.parameters + other.parameters, self.activations + other.activations)

    def __mul__(self, n: int) -> "Estimate":
        return Estimate(self.parameters * n, self.activations * n)

    __rmul__ = __mul__


NONE = Estimate(0, 0)


def total(parts: Iterable[Estimate]) -> Estimate:
    return sum(parts, NONE)


def features(in_shape: Sequence[int]) -> int:
    """What an MLP reads: the input flattened."""
    return int(math.prod(in_shape))


def linear(n_in: int, n_out: int, bias: bool = True) -> Estimate:
    return Estimate(n_in * n_out + (n_out if bias else 0), n_out)


def chain(sizes: Sequence[int]) -> Estimate:
    """Linear layers sizes[0] -> sizes[1] -> ... -> sizes[-1], each with a bias."""
    return total(linear(a, b) for a, b in zip(sizes, sizes[1:]))


def conv(c_in: int, c_out: int, k: int, hw: tuple[int, int], bias: bool = False) -> Estimate:
    """A k x k convolution whose output map is hw."""
    return Estimate(c_in * c_out * k * k + (c_out if bias else 0), c_out * hw[0] * hw[1])


def batch_norm(c: int, on: bool = True) -> Estimate:
    return Estimate(2 * c, 0) if on else NONE


def halved(hw: tuple[int, int], ceil: bool = False) -> tuple[int, int]:
    """A map after 2x2 pooling (floor, or ceil mode) or a stride-2 3x3 convolution with padding 1 (ceil)."""
    return ((hw[0] + 1) // 2, (hw[1] + 1) // 2) if ceil else (hw[0] // 2, hw[1] // 2)


def image(in_shape: Sequence[int]) -> tuple[int, tuple[int, int]]:
    """(channels, (h, w)) of an image input; MLP-shaped inputs count as one channel of 1 x n."""
    if len(in_shape) == 3:
        return in_shape[0], (in_shape[1], in_shape[2])
    return 1, (1, features(in_shape))


# ----------------------------------------------------------------------------- seed-001 CNN tables
SEED_CNN_FAMILIES = ("vanilla_cnn", "skip_cnn", "widened_cnn")
SKIPS = ((1, 4), (2, 5), (4, 7), (5, 8))  # (source layer, target layer), seed 001 section 2.3
CONV_LAYERS = (1, 2, 4, 5, 7, 8)


def seed_widths(family: str, width_mult: float = 1.0) -> dict[int, int]:
    """Output channels of conv layers 1, 2, 4, 5, 7, 8 for a family (before any concatenation)."""
    if family not in SEED_CNN_FAMILIES:
        raise ValueError(f"family must be one of {SEED_CNN_FAMILIES}, got {family!r}")
    c1, c2, c3 = (max(1, round(c * width_mult)) for c in (32, 64, 128))
    if family == "widened_cnn":
        return {1: c1, 2: c1, 4: c2 + c1, 5: c2 + c1, 7: c3 + c2 + c1, 8: c3 + c2 + c1}
    return {1: c1, 2: c1, 4: c2, 5: c2, 7: c3, 8: c3}


def layer_channels(widths: dict[int, int], skips: bool) -> dict[int, int]:
    """Channels of each conv layer's (new) tensor: learned channels plus concatenated skip channels."""
    out: dict[int, int] = {}
    for layer in CONV_LAYERS:
        out[layer] = widths[layer] + (sum(out[s] for s, d in SKIPS if d == layer) if skips else 0)
    return out


def seed_cnn(family: str, width_mult: float, batch_norm_on: bool, in_shape: Sequence[int], n_out: int) -> Estimate:
    """The seed-001 CNN: conv layers 1, 2 at full size, 4, 5 at half, 7, 8 at a quarter; a 4x4 head."""
    c, hw = image(in_shape)
    learned = seed_widths(family, width_mult)
    channels = layer_channels(learned, family == "skip_cnn")
    sizes = {1: hw, 2: hw, 4: halved(hw), 5: halved(hw), 7: halved(halved(hw)), 8: halved(halved(hw))}
    est, prev = NONE, c
    for layer in CONV_LAYERS:
        est += conv(prev, learned[layer], 3, sizes[layer], bias=not batch_norm_on)
        est += batch_norm(learned[layer], batch_norm_on)
        prev = channels[layer]
    return est + linear(prev * 16, n_out)


# ----------------------------------------------------------------------------- other image networks
def resnet_cnn(depth: int, widths: Sequence[int], pre: bool, shortcut: bool, in_shape: Sequence[int],
               n_out: int) -> Estimate:
    """He et al.'s CIFAR ResNet: a 3x3 stem, stages of (depth - 2) / 6 basic blocks (stride 2 and a
    1x1 projection + BN where a stage changes the shape, when `shortcut`), BN where V1 / V2 put it."""
    c, hw = image(in_shape)
    est = conv(c, widths[0], 3, hw) + batch_norm(widths[0], not pre)
    c = widths[0]
    for s, w in enumerate(widths):
        for i in range((depth - 2) // 6):
            stride = 2 if s > 0 and i == 0 else 1
            out_hw = halved(hw, ceil=True) if stride == 2 else hw
            est += batch_norm(c if pre else w) + conv(c, w, 3, out_hw) + batch_norm(w) + conv(w, w, 3, out_hw)
            if shortcut and (stride != 1 or c != w):
                est += conv(c, w, 1, out_hw) + batch_norm(w)
            c, hw = w, out_hw
    return est + batch_norm(c, pre) + linear(c, n_out)


def densenet_cnn(growth: int, block_layers: Sequence[int], bottleneck: bool, compression: float, init_channels: int,
                 in_shape: Sequence[int], n_out: int) -> Estimate:
    """DenseNet(-BC): stem, dense layers (BN-conv1x1(4k)-BN-conv3x3(k), or BN-conv3x3(k)),
    transitions (BN-conv1x1 to floor(compression C), 2x2 average pooling in ceil mode), BN, classifier."""
    c_in, hw = image(in_shape)
    est, c = conv(c_in, init_channels, 3, hw), init_channels
    for b, n in enumerate(block_layers):
        for i in range(n):
            cin = c + i * growth
            if bottleneck:
                est += batch_norm(cin) + conv(cin, 4 * growth, 1, hw) + batch_norm(4 * growth)
                est += conv(4 * growth, growth, 3, hw)
            else:
                est += batch_norm(cin) + conv(cin, growth, 3, hw)
        c += n * growth
        if b < len(block_layers) - 1:
            out = max(1, int(compression * c))
            est += batch_norm(c) + conv(c, out, 1, hw)
            c, hw = out, halved(hw, ceil=True)
    return est + batch_norm(c) + linear(c, n_out)


def double_conv(c_in: int, c_out: int, hw: tuple[int, int], bn: bool) -> Estimate:
    return conv(c_in, c_out, 3, hw, bias=not bn) + batch_norm(c_out, bn) + conv(c_out, c_out, 3, hw, bias=not bn) \
        + batch_norm(c_out, bn)


def unet(depth: int, base: int, long_skips: bool, bn: bool, in_shape: Sequence[int], n_out: int) -> Estimate:
    """U-Net: encoder double convs (then 2x2 max-pooling), a bottleneck, decoders of a 2x2 stride-2
    transposed conv and a double conv (reading the long skip too), a 1x1 head."""
    c, hw = image(in_shape)
    ch = [base * 2**level for level in range(depth + 1)]
    sizes = [hw]
    for _ in range(depth):
        sizes.append(halved(sizes[-1]))
    est = total(double_conv(c if level == 0 else ch[level - 1], ch[level], sizes[level], bn) for level in range(depth))
    est += double_conv(ch[depth - 1] if depth else c, ch[depth], sizes[depth], bn)
    for level in range(depth):
        up_hw = (2 * sizes[level + 1][0], 2 * sizes[level + 1][1])
        est += Estimate(ch[level + 1] * ch[level] * 4 + ch[level], ch[level] * up_hw[0] * up_hw[1])
        est += double_conv(2 * ch[level] if long_skips else ch[level], ch[level], sizes[level], bn)
    return est + conv(ch[0], n_out, 1, hw, bias=True)
