"""unet: encoder/decoder with long concatenative skips (Ronneberger, Fischer & Brox 2015), small.

`depth` levels of downsampling: encoder level l (l = 0..depth-1) is a double conv
(conv3x3-[BN]-ReLU twice) of base_channels * 2^l channels followed by 2x2 max-pooling; a bottleneck
double conv of base_channels * 2^depth; each decoder level upsamples with a 2x2 stride-2 transposed
conv (halving the channels), concatenates the encoder map of the same resolution (the long skip)
and applies a double conv; a 1x1 conv gives (N, n_classes, H, W) logits.
`long_skips=False` is the same network without the concatenation: each decoder double conv reads
only the upsampled map (half the input channels), everything else unchanged. Odd sizes: the
upsampled map is zero-padded to the encoder map's size. Images need H, W >= 2^depth.
Module names (an API): enc{l}.conv1/bn1/conv2/bn2, bottleneck.*, up{l}, dec{l}.*, head.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from skipcore.models import family


# ----------------------------------------------------------------------------- blocks
class DoubleConv(nn.Module):
    def __init__(self, *, in_channels: int, out_channels: int, batch_norm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


# ----------------------------------------------------------------------------- network
class UNet(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        depth: int = 3,
        base_channels: int = 16,
        long_skips: bool = True,
        batch_norm: bool = True,
        init: str = "he",
    ):
        super().__init__()
        self.depth, self.long_skips = depth, long_skips
        ch = [base_channels * 2**l for l in range(depth + 1)]
        c = in_channels
        for l in range(depth):
            self.add_module(f"enc{l}", DoubleConv(in_channels=c, out_channels=ch[l], batch_norm=batch_norm))
            c = ch[l]
        self.bottleneck = DoubleConv(in_channels=c, out_channels=ch[depth], batch_norm=batch_norm)
        for l in reversed(range(depth)):
            self.add_module(f"up{l}", nn.ConvTranspose2d(ch[l + 1], ch[l], 2, stride=2))
            dec_in = 2 * ch[l] if long_skips else ch[l]
            self.add_module(f"dec{l}", DoubleConv(in_channels=dec_in, out_channels=ch[l], batch_norm=batch_norm))
        self.head = nn.Conv2d(ch[0], n_classes, 1)
        self.pool = nn.MaxPool2d(2)
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        if init not in ("he", "default"):
            raise ValueError(f"init must be 'he' or 'default', got {init!r}")
        for m in self.modules():
            if init == "he" and isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def layer_names(self) -> list[str]:
        kinds = (nn.Conv2d, nn.ConvTranspose2d)
        return [n for n, m in self.named_modules() if isinstance(m, kinds)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for l in range(self.depth):
            h = getattr(self, f"enc{l}")(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)
        for l in reversed(range(self.depth)):
            h = getattr(self, f"up{l}")(h)
            s = skips[l]
            dy, dx = s.shape[-2] - h.shape[-2], s.shape[-1] - h.shape[-1]
            if dy or dx:
                h = F.pad(h, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
            if self.long_skips:
                h = torch.cat([s, h], dim=1)
            h = getattr(self, f"dec{l}")(h)
        return self.head(h)


# ----------------------------------------------------------------------------- build
@family("unet")
def build(params: Any, info: Any) -> UNet:
    if len(info.in_shape) != 3:
        raise ValueError(f"unet needs (C, H, W) images, got in_shape {info.in_shape}")
    c, h, w = info.in_shape
    if min(h, w) < 2**params.depth:
        raise ValueError(f"unet depth {params.depth} needs images of at least {2**params.depth}px, got {h}x{w}")
    return UNet(
        in_channels=c,
        n_classes=info.n_outputs,
        depth=params.depth,
        base_channels=params.base_channels,
        long_skips=params.long_skips,
        batch_norm=params.batch_norm,
    )
