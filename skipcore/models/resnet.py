"""resnet_cnn: the CIFAR ResNets of He et al. (2016a, V1 post-activation; 2016b, V2 pre-activation).

A 3x3 conv stem of `widths[0]` channels, then len(widths) stages of n basic blocks (stride 2 at the
first block of every stage after the first), global average pooling and a linear classifier.
n = (depth - 2) / 6 blocks per stage, as in He et al.'s 6n + 2 (three stages); with k = len(widths)
stages the network has 2nk + 2 weight layers (not counting projections).

Block (one class; the variants are arguments):
- `post_activation` (V1): x' = relu(S(x) + a F(x)),  F = conv-BN-relu-conv-BN.
- `pre_activation`  (V2): x' = S(x) + a F(x),        F = BN-relu-conv-BN-relu-conv; the network
  then ends with BN-relu before pooling. The projection shortcut reads the raw block input x.
- `shortcut="identity"`: S is the identity, or a strided 1x1 conv + BN where the shape changes
  (He et al.'s option B). `shortcut="none"`: no S at all, x' = relu(a F(x)) / a F(x): the plain
  network of the same depth.
- `residual_scale` a is residual scaling at initialisation: after the init, the branch's last
  layer is multiplied by a once (`scale_last`: the last BN's gamma in V1, whose branch ends in BN;
  the last conv in V2), so F starts a times smaller and then trains freely.
- `branch_multiplier` c multiplies the branch in every forward (x + c F(x)); 1 = off.
- `zero_init_residual`: `zero_init_last()` zeroes the last BN's gamma (V1) or the last conv (V2,
  which has no BN at the end of its branch), so every identity block starts as the identity.
- `stochastic_depth` p_L (Huang et al. 2016): block l of L survives training steps with
  p_l = 1 - (l / L)(1 - p_L). `stochastic_depth_mode="block"` (the paper): a block is dropped for
  a whole mini-batch, its branch not computed (x' = S(x), or relu(S(x)) in V1), and at inference
  the branch is multiplied by p_l; "drop_path": per-sample masks with 1/p_l scaling in training,
  plain inference (`skipcore.nn.drop_path`). Needs `shortcut="identity"` (a dropped block leaves S(x)).

Block API (the probes' contract, shared with resnet_mlp/highway_mlp): `model.blocks()` gives
[(name, block)]; a block has `branch(x)` (a F(x), before the residual sum and any post-activation),
`shortcut(x)` (S(x), or None for `shortcut="none"`), `lesion(x)` (the block removed) and
`downsample`. `model.block_mask` (bool buffer) and `model.set_blocks(mask)` remove blocks: a
masked-out block returns `lesion(x)` = the block with F = 0, i.e. S(x) (V2) or relu(S(x)) (V1;
equal to x on an identity block since x >= 0 there). For `shortcut="none"` there is no S, so a
lesioned block passes its input on unchanged (Veit et al. 2016: y_i = y_{i-1}), or, for a
downsampling block, through the parameter-free option-A shortcut (stride-2 subsampling,
zero-padded channels). A lesioned downsampling block with `shortcut="identity"` keeps its
projection. `model.block_inputs(x)` lists every block's input in one forward pass.
Module names (an API): stem.conv, stem.bn (V1), stage{s}.{i}.conv1/bn1/conv2/bn2/skip.conv/skip.bn
(the shortcut module is `skip`, since `shortcut` is the method), final_bn (V2), fc.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from skipcore.models import family
from skipcore.models.common import BlockAPI, conv_linear_names, image_channels, init_conv_bn, pool_fc, spec_args
from skipcore.nn.drop_path import StochasticDepth
from skipcore.nn.shortcuts import Shortcut

BLOCKS = ("post_activation", "pre_activation")


# ----------------------------------------------------------------------------- helpers
def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def option_a(x: torch.Tensor, out_channels: int, stride: int) -> torch.Tensor:
    """He et al.'s parameter-free shortcut: subsample by `stride`, zero-pad the new channels."""
    if stride != 1:
        x = x[:, :, ::stride, ::stride]
    extra = out_channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra > 0 else x


def survival_probs(n_blocks: int, p_last: float) -> list[float]:
    """Linear decay p_l = 1 - (l / L)(1 - p_L), l = 1..L (Huang et al. 2016)."""
    if not 0 < p_last <= 1:
        raise ValueError(f"stochastic_depth p_L must be in (0, 1], got {p_last}")
    return [1.0 - (l / n_blocks) * (1.0 - p_last) for l in range(1, n_blocks + 1)]


# ----------------------------------------------------------------------------- blocks
class BasicBlock(nn.Module):
    """Two 3x3 convs with a skip. See the module docstring for the variants."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        block: str = "post_activation",
        shortcut: str = "identity",
        branch_multiplier: float = 1.0,
        survival: float = 1.0,
        stochastic_depth_mode: str = "block",
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
        if shortcut not in ("identity", "none"):
            raise ValueError(f"shortcut must be 'identity' or 'none', got {shortcut!r}")
        if survival < 1.0 and shortcut == "none":
            raise ValueError(f"stochastic depth (survival {survival}) needs shortcut='identity', got 'none'")
        self.pre = block == "pre_activation"
        self.out_channels, self.stride = out_channels, stride
        self.branch_multiplier, self.survival = branch_multiplier, survival
        self.downsample = stride != 1 or in_channels != out_channels
        self.bn1 = nn.BatchNorm2d(in_channels if self.pre else out_channels)
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.skip = Shortcut.for_shapes(
            shortcut=shortcut, in_channels=in_channels, out_channels=out_channels, stride=stride
        )
        self.stochastic_depth = StochasticDepth(survival, stochastic_depth_mode)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """a F(x): the residual branch, scaled, before the sum (and any post-activation)."""
        if self.pre:
            h = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))
        else:
            h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return h * self.branch_multiplier if self.branch_multiplier != 1.0 else h

    def shortcut(self, x: torch.Tensor) -> torch.Tensor | None:
        return self.skip(x)

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        """The block removed (F = 0); see the module docstring for shortcut='none'."""
        s = self.skip(x)
        if s is None:
            return option_a(x, self.out_channels, self.stride)
        return s if self.pre else F.relu(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stochastic_depth(self.skip(x), lambda: self.branch(x))
        return out if self.pre else F.relu(out)

    def zero_init_last(self) -> None:
        """Start as the identity: zero the last BN gamma (V1) or the last conv (V2)."""
        if self.pre:
            nn.init.zeros_(self.conv2.weight)
        else:
            nn.init.zeros_(self.bn2.weight)

    @torch.no_grad()
    def scale_last(self, a: float) -> None:
        """Residual scaling at initialisation: the branch's last layer times a (BN gamma in V1, conv in V2)."""
        (self.conv2.weight if self.pre else self.bn2.weight).mul_(a)

    def extra_repr(self) -> str:
        return (f"pre_activation={self.pre}, branch_multiplier={self.branch_multiplier}, "
                f"survival={self.survival:.3f}")


# ----------------------------------------------------------------------------- network
class ResNetCNN(BlockAPI, nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        depth: int = 20,
        widths: Sequence[int] = (16, 32, 64),
        block: str = "post_activation",
        shortcut: str = "identity",
        residual_scale: float = 1.0,
        branch_multiplier: float = 1.0,
        stochastic_depth: float = 1.0,
        stochastic_depth_mode: str = "block",
        zero_init_residual: bool = False,
        init: str = "he",
    ):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.pre = block == "pre_activation"
        self.stem = nn.Sequential()
        self.stem.add_module("conv", _conv3x3(in_channels, widths[0]))
        if not self.pre:
            self.stem.add_module("bn", nn.BatchNorm2d(widths[0]))
            self.stem.add_module("relu", nn.ReLU())
        probs = iter(survival_probs(n * len(widths), stochastic_depth))
        c = widths[0]
        for s, w in enumerate(widths):
            stage, c = self._make_stage(
                in_channels=c, out_channels=w, n_blocks=n, stride=1 if s == 0 else 2, block=block,
                shortcut=shortcut, branch_multiplier=branch_multiplier, probs=probs, mode=stochastic_depth_mode,
            )
            self.add_module(f"stage{s + 1}", stage)
        self.final_bn = nn.BatchNorm2d(c) if self.pre else nn.Identity()
        self.fc = nn.Linear(c, n_classes)
        self._names = [f"stage{s + 1}.{i}" for s in range(len(widths)) for i in range(n)]
        self.register_buffer("block_mask", torch.ones(len(self._names), dtype=torch.bool))
        self._active = (True,) * len(self._names)
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_mask())
        self._init_weights(init, zero_init_residual, residual_scale)

    @staticmethod
    def _make_stage(*, in_channels, out_channels, n_blocks, stride, block, shortcut, branch_multiplier, probs, mode):
        """One stage; only its first block changes shape (and so gets a projection shortcut)."""
        blocks = []
        for i in range(n_blocks):
            blocks.append(BasicBlock(
                in_channels=in_channels if i == 0 else out_channels, out_channels=out_channels,
                stride=stride if i == 0 else 1, block=block, shortcut=shortcut,
                branch_multiplier=branch_multiplier, survival=next(probs), stochastic_depth_mode=mode,
            ))
        return nn.Sequential(*blocks), out_channels

    def _init_weights(self, init: str, zero_init_residual: bool, residual_scale: float = 1.0) -> None:
        init_conv_bn(self, init)
        for _, blk in self.blocks():
            if zero_init_residual:
                blk.zero_init_last()
            elif residual_scale != 1.0:
                blk.scale_last(residual_scale)

    # ------------------------------------------------------------------ block API (BlockAPI)
    # blocks(), set_blocks(mask) (removed blocks return `lesion(x)`), block_inputs(x).
    def _block_names(self) -> list[str]:
        return self._names

    def _block_mask(self, mask: bool | Sequence[bool] | torch.Tensor) -> torch.Tensor:
        if isinstance(mask, bool):
            mask = [mask] * len(self._names)
        mask = torch.as_tensor(mask, dtype=torch.bool).to(self.block_mask.device)
        if mask.shape != self.block_mask.shape:
            raise ValueError(f"block mask needs {len(self._names)} entries, got {tuple(mask.shape)}")
        return mask

    def _sync_mask(self) -> None:
        # A host copy, so that forward does not sync with the device on every step.
        self._active = tuple(bool(b) for b in self.block_mask.tolist())

    def layer_names(self) -> list[str]:
        return conv_linear_names(self)

    def _run_blocks(self, x: torch.Tensor, inputs: list | None = None) -> torch.Tensor:
        for active, (_, blk) in zip(self._active, self.blocks()):
            if inputs is not None:
                inputs.append(x)
            x = blk(x) if active else blk.lesion(x)
        return x

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        inputs: list[torch.Tensor] = []
        return self._run_blocks(self.stem(x), inputs), inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._run_blocks(self.stem(x))
        if self.pre:
            h = F.relu(self.final_bn(h))
        return pool_fc(h, self.fc)


# ----------------------------------------------------------------------------- build
@family("resnet_cnn")
def build(params: Any, info: Any) -> ResNetCNN:
    return ResNetCNN(in_channels=image_channels("resnet_cnn", info), n_classes=info.n_outputs,
                     widths=tuple(params.widths),
                     **spec_args(params, "depth", "block", "shortcut", "residual_scale", "branch_multiplier",
                                 "stochastic_depth", "stochastic_depth_mode", "zero_init_residual", "init"))
