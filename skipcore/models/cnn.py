"""Seed 001 (section 2.3): an eight-layer CIFAR-10 CNN, with and without concatenative skips.

Figure 2 of the seed (the architecture) is missing. The text fixes these facts: layer 1 is a
[32, 32, 32] tensor (H, W, C); layer 4 is [16, 16, 64]; skips run 1->4, 2->5, 4->7, 5->8 through a
2x2 max-pool and are concatenated to the target layer's tensor ("[16, 16, 96], which will be the new
tensor in layer 4"); the "reinforced" vanilla CNN has 96 filters at layers 4, 5 and 224 at 7, 8.
The one reading in which all of these hold is the classic conv-conv-pool pattern, layers counted
as in the paper (pools are layers 3, 6, 9):

    layer  op (3x3 convs, pad 1; conv-BN-ReLU) vanilla_cnn       skip_cnn                    widened_cnn
    in     image                               [32,32,3]         [32,32,3]                   [32,32,3]
    1      conv1                               3->32   @32²      3->32   @32²                3->32   @32²
    2      conv2                               32->32  @32²      32->32  @32²                32->32  @32²
    3      max-pool 2x2                        [16,16,32]        [16,16,32]                  [16,16,32]
    4      conv4                               32->64  @16²      32->64, ++pool(1): 96       32->96  @16²
    5      conv5                               64->64  @16²      96->64, ++pool(2): 96       96->96  @16²
    6      max-pool 2x2                        [8,8,64]          [8,8,96]                    [8,8,96]
    7      conv7                               64->128 @8²       96->128, ++pool(4'): 224    96->224 @8²
    8      conv8                               128->128 @8²      224->128, ++pool(5'): 224   224->224 @8²
    9      adaptive max-pool to 4x4            [4,4,128]         [4,4,224]                   [4,4,224]
    10     dropout, fc                         2048->10          3584->10                    3584->10

(`++pool(k)` = concatenate the 2x2 max-pooled output of layer k; 4' and 5' are the *new*, already
concatenated tensors of layers 4 and 5.) So the next layer consumes the new tensor: conv5 reads
layer 4's 96 channels and conv7 reads layer 5's 96. The skip 4->7 then carries 96 channels and
128 + 96 = 224, which is exactly the width the seed gives the widened network at layers 7 and 8
(64 + 32 = 96 at layers 4 and 5): the widened CNN has the skip CNN's tensor widths everywhere, but
every channel is learned. That is the seed's fairness argument, and this table is its arithmetic.

Layer 9 is an adaptive max-pool to 4x4, equal to a 2x2 max-pool at 32x32 inputs, so other image
sizes (>= 8) work too with the same classifier (maps smaller than 4x4, from inputs under 32, are
replicated up to 4x4). `width_mult` scales 32/64/128 (the widened widths are derived from the
scaled ones as above). Skips are switchable: a `skip_mask` buffer of four booleans (1->4, 2->5,
4->7, 5->8) set through `set_skips(mask)`; a switched-off skip concatenates zeros, so the shapes,
and hence the weights, stay the same.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from skipcore.models import family
from skipcore.spec.sizes import CONV_LAYERS, SEED_CNN_FAMILIES, SKIPS, layer_channels, seed_widths

FAMILIES = SEED_CNN_FAMILIES  # the channel tables are torch-free (the spec's estimate reads them too)


# ----------------------------------------------------------------------------- blocks
class ConvBNReLU(nn.Module):
    """3x3 conv (pad 1), optional BatchNorm, ReLU. Submodules `conv`, `bn` (names are an API)."""

    def __init__(self, *, in_channels: int, out_channels: int, batch_norm: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


# ----------------------------------------------------------------------------- network
class SeedCNN(nn.Module):
    """The seed-001 CNN. `skips` adds the four concatenative max-pooled skips; `widths` maps conv
    layer (1, 2, 4, 5, 7, 8) to its learned output channels (see `seed_widths`)."""

    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        widths: dict[int, int],
        skips: bool,
        batch_norm: bool = True,
        dropout: float = 0.0,
        init: str = "he",
    ):
        super().__init__()
        self.skips = skips
        learned = dict(widths)
        channels = layer_channels(learned, skips)
        prev = in_channels
        for layer in CONV_LAYERS:
            setattr(self, f"conv{layer}", ConvBNReLU(in_channels=prev, out_channels=learned[layer], batch_norm=batch_norm))
            prev = channels[layer]
        self.pool = nn.MaxPool2d(2)
        self.head_pool = nn.AdaptiveMaxPool2d(4)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(prev * 16, n_classes)
        self.register_buffer("skip_mask", torch.ones(len(SKIPS), dtype=torch.bool) if skips else torch.zeros(0, dtype=torch.bool))
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        if init not in ("he", "default"):
            raise ValueError(f"init must be 'he' or 'default', got {init!r}")
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif init == "he" and isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_skips(self, mask: bool | Sequence[bool] | torch.Tensor) -> None:
        """Switch the four skips (1->4, 2->5, 4->7, 5->8) on/off (one bool: all); off concatenates zeros."""
        if not self.skips:
            raise ValueError("this CNN has no skips to switch (family is not skip_cnn)")
        if isinstance(mask, bool):
            mask = [mask] * len(SKIPS)
        mask = torch.as_tensor(mask, dtype=torch.bool, device=self.skip_mask.device)
        if mask.shape != self.skip_mask.shape:
            raise ValueError(f"skip mask needs {len(SKIPS)} entries, got {tuple(mask.shape)}")
        self.skip_mask.copy_(mask)

    def layer_names(self) -> list[str]:
        return [f"conv{layer}.conv" for layer in CONV_LAYERS] + ["fc"]

    def _skip(self, t: torch.Tensor, i: int) -> torch.Tensor:
        pooled = self.pool(t)
        return pooled * self.skip_mask[i].to(pooled.dtype)

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every conv layer's (new, concatenated) tensor, keyed by layer number."""
        t: dict[int, torch.Tensor] = {}
        h = x
        for layer in CONV_LAYERS:
            if layer in (4, 7):
                h = self.pool(h)  # layers 3 and 6
            h = getattr(self, f"conv{layer}")(h)
            if self.skips:
                for i, (src, dst) in enumerate(SKIPS):
                    if dst == layer:
                        h = torch.cat([h, self._skip(t[src], i)], dim=1)
            t[layer] = h
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)[8]
        h = self.head_pool(h).flatten(1)
        return self.fc(self.dropout(h))


# ----------------------------------------------------------------------------- build
@family("vanilla_cnn", "skip_cnn", "widened_cnn")
def build(params: Any, info: Any) -> SeedCNN:
    """vanilla_cnn | skip_cnn | widened_cnn from a spec model class and DataInfo."""
    if len(info.in_shape) != 3:
        raise ValueError(f"{params.family} needs (C, H, W) images, got in_shape {info.in_shape}")
    c, h, w = info.in_shape
    if min(h, w) < 8:
        raise ValueError(f"{params.family} needs images of at least 8x8, got {h}x{w}")
    return SeedCNN(
        in_channels=c,
        n_classes=info.n_outputs,
        widths=seed_widths(params.family, params.width_mult),
        skips=params.family == "skip_cnn",
        batch_norm=params.batch_norm,
        dropout=params.dropout,
        init="he",
    )
