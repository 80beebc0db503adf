"""densenet_cnn: a DenseNet(-BC) for small images (Huang, Liu, van der Maaten & Weinberger 2017).

3x3 conv stem of `init_channels`; dense blocks of `block_layers[b]` layers, each layer reading the
concatenation of all earlier feature maps in its block and adding `growth_rate` (k) new ones:
BN-ReLU-conv3x3(k), or with `bottleneck` BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k) (the "B");
between blocks a transition BN-ReLU-conv1x1 to floor(compression * C) channels (the "C") and
2x2 average pooling (ceil mode, so small images never shrink below 1x1); then BN-ReLU, global
average pooling and a linear classifier.
Module names (an API): stem, block{b}.layer{i}.bn1/conv1/bn2/conv2, trans{b}.bn/conv, final_bn, fc.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from skipcore.models import family
from skipcore.models.common import conv_linear_names, image_channels, init_conv_bn, pool_fc, spec_args


# ----------------------------------------------------------------------------- blocks
class DenseLayer(nn.Module):
    def __init__(self, *, in_channels: int, growth_rate: int, bottleneck: bool):
        super().__init__()
        mid = 4 * growth_rate if bottleneck else in_channels
        self.bottleneck = bottleneck
        if bottleneck:
            self.bn1 = nn.BatchNorm2d(in_channels)
            self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The k new feature maps (the block concatenates them)."""
        h = self.conv1(F.relu(self.bn1(x))) if self.bottleneck else x
        return self.conv2(F.relu(self.bn2(h)))


class DenseBlock(nn.Module):
    def __init__(self, *, in_channels: int, n_layers: int, growth_rate: int, bottleneck: bool):
        super().__init__()
        for i in range(n_layers):
            self.add_module(
                f"layer{i + 1}",
                DenseLayer(in_channels=in_channels + i * growth_rate, growth_rate=growth_rate, bottleneck=bottleneck),
            )
        self.out_channels = in_channels + n_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Module):
    def __init__(self, *, in_channels: int, out_channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(F.relu(self.bn(x))))


# ----------------------------------------------------------------------------- network
class DenseNetCNN(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        growth_rate: int = 12,
        block_layers: Sequence[int] = (4, 4, 4),
        bottleneck: bool = True,
        compression: float = 0.5,
        init_channels: int = 24,
        init: str = "he",
    ):
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        self.stem = nn.Conv2d(in_channels, init_channels, 3, padding=1, bias=False)
        c = init_channels
        for b, n in enumerate(block_layers, start=1):
            block = DenseBlock(in_channels=c, n_layers=n, growth_rate=growth_rate, bottleneck=bottleneck)
            self.add_module(f"block{b}", block)
            c = block.out_channels
            if b < len(block_layers):
                out = max(1, int(compression * c))
                self.add_module(f"trans{b}", Transition(in_channels=c, out_channels=out))
                c = out
        self.final_bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, n_classes)
        self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        init_conv_bn(self, init)
        nn.init.zeros_(self.fc.bias)

    def layer_names(self) -> list[str]:
        return conv_linear_names(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for name, mod in self.named_children():
            if name.startswith(("block", "trans")):
                h = mod(h)
        return pool_fc(F.relu(self.final_bn(h)), self.fc)


# ----------------------------------------------------------------------------- build
@family("densenet_cnn")
def build(params: Any, info: Any) -> DenseNetCNN:
    return DenseNetCNN(in_channels=image_channels("densenet_cnn", info), n_classes=info.n_outputs,
                       block_layers=tuple(params.block_layers),
                       **spec_args(params, "growth_rate", "bottleneck", "compression", "init_channels"))
