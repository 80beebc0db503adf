"""Helpers shared by the model families: activations, sizes, the hidden Linear stack, init, block API.

MLPs: `check_size`, `hidden_stack` / `run_stack` (the `hidden.{i}` chain of plain, telescope and
skip-layer MLPs), `init_named` (each `layer_names()` module, in that order), `block_layer_names`,
`mlp_args` (what every MLP `build()` reads from a spec and DataInfo) and `UniformMLP` (the frame of
the MLPs of one width). `spec_args`: spec fields as a module's keyword arguments.
Block API (resnet_mlp, highway_mlp, resnet_cnn): `BlockAPI`. CNNs: `init_conv_bn`, `pool_fc`,
`image_channels`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skipcore.models.init import init_layer

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def in_features(in_shape: Sequence[int]) -> int:
    """MLPs flatten their input: (features,) or (C, H, W) -> product of dims."""
    return int(math.prod(in_shape))


def bool_mask(mask: bool | Sequence[bool] | Tensor, n: int, what: str) -> Tensor:
    """A bool tensor of length n from True/False (all) or a sequence of n bools."""
    if isinstance(mask, bool):
        return torch.full((n,), mask, dtype=torch.bool)
    t = torch.as_tensor(mask, dtype=torch.bool).flatten().cpu()
    if t.numel() != n:
        raise ValueError(f"{what} needs {n} entries, got {t.numel()}")
    return t


def weight_layer_names(model: nn.Module) -> list[str]:
    """Fallback `layer_names()`: every Linear/Conv module, in registration order."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
    return [name for name, m in model.named_modules() if isinstance(m, kinds)]


def select(mask: Tensor, on: Tensor, off: Tensor) -> Tensor:
    """`on` where the 0-d bool `mask` is set, else `off`; no host sync (torch.where)."""
    return torch.where(mask, on, off)


# ----------------------------------------------------------------------------- MLPs
def check_size(cls: str, depth: int, width: int, *, min_width: int = 1) -> None:
    """Raise the ValueError naming `depth`/`width` unless depth >= 1 and width >= min_width."""
    if depth < 1 or width < min_width:
        raise ValueError(
            f"{cls} needs depth >= 1 and width >= {min_width}, got depth={depth!r}, width={width!r}"
        )


def hidden_stack(in_features: int, width: int, depth: int) -> nn.ModuleList:
    """`depth` Linear layers in -> width -> ... -> width (module names `hidden.{i}`)."""
    return nn.ModuleList(nn.Linear(in_features if i == 0 else width, width) for i in range(depth))


def run_stack(layers: nn.ModuleList, act: nn.Module, h: Tensor) -> Tensor:
    """h -> act(layer(h)) through every layer."""
    for layer in layers:
        h = act(layer(h))
    return h


def hidden_names(depth: int) -> list[str]:
    return [f"hidden.{i}" for i in range(depth)]


def block_layer_names(depth: int, inner: Sequence[str]) -> list[str]:
    """["input", layers.{i}.{inner...} for every block, "output"]: the block MLPs' weight layers."""
    return ["input", *[f"layers.{i}.{fc}" for i in range(depth) for fc in inner], "output"]


def init_named(model: nn.Module, scheme: str, *, io: Sequence[str] | None = None) -> None:
    """`init_layer` on every `model.layer_names()` module, in that order (the seeded order).

    `identity` (skipcore.models.init): the layers named in `io` -- those that read the input or
    write the output; by default the first of `layer_names()` and "output" -- get `he`, every
    other (hidden-to-hidden) layer the identity matrix.
    """
    names = model.layer_names()
    io = {names[0], "output"} if io is None else set(io)
    for name in names:
        layer_scheme = "he" if scheme == "identity" and name in io else scheme
        init_layer(model.get_submodule(name), layer_scheme, activation=model.activation)


def spec_args(params: Any, *names: str) -> dict[str, Any]:
    """The spec fields `names` of `params`, as keyword arguments of a family's module."""
    return {name: getattr(params, name) for name in names}


def mlp_args(params: Any, info: Any, *extra: str) -> dict[str, Any]:
    """The keyword arguments every MLP family takes, plus the spec fields named in `extra`."""
    args = {"in_features": in_features(info.in_shape), "out_features": info.n_outputs}
    return args | spec_args(params, "depth", "width", "activation", "init", *extra)


class UniformMLP(nn.Module):
    """The frame of the MLP families of one hidden width (plain, telescope, skip-layer, residual,
    highway): keyword arguments `in_features`, `out_features`, `depth`, `width`, `activation`,
    `init` and the family's own options. It checks the size, keeps `depth`, `width`,
    `activation` and the module `act`, then calls the family's `_layers(in_features,
    out_features, **options)` (which creates the layers, in the order that seeds their draws) and
    `_init_weights(init)`. Class attributes give the family's defaults (`ACTIVATION`, `INIT`),
    its smallest width (`MIN_WIDTH`) and the name a size error gives (`NAME`, else the class's).
    """

    ACTIVATION, INIT, MIN_WIDTH, NAME = "relu", "he", 1, ""

    def __init__(self, *, in_features: int, out_features: int, depth: int, width: int,
                 activation: str | None = None, init: str | None = None, **options: Any) -> None:
        super().__init__()
        check_size(self.NAME or type(self).__name__, depth, width, min_width=self.MIN_WIDTH)
        self.depth, self.width, self.activation = depth, width, activation or self.ACTIVATION
        self.act = make_activation(self.activation)
        self._layers(in_features, out_features, **options)
        self._init_weights(init or self.INIT)

    def _layers(self, in_features: int, out_features: int, **options: Any) -> None:
        raise NotImplementedError

    def _init_weights(self, init: str) -> None:
        init_named(self, init)


# ----------------------------------------------------------------------------- block API
class BlockAPI:
    """The probes' block contract, for an nn.Module with a bool `block_mask` buffer (one per block).

    The network provides `_block_names()` (module names, in order) and `_run(x)` -> (output of the
    last block, the input of every block). `set_blocks(mask)` keeps (True) or lesions (False) each
    block; True/False for all, or one bool per block. `_block_mask(mask)` validates the mask and
    `_sync_mask()` runs after every change (a no-op unless the network caches the mask).
    """

    block_mask: Tensor

    def blocks(self) -> list[tuple[str, nn.Module]]:
        return [(name, self.get_submodule(name)) for name in self._block_names()]

    def set_blocks(self, mask: bool | Sequence[bool] | Tensor) -> None:
        """Keep (True) or lesion (False) each block; True/False for all or one bool per block."""
        self.block_mask.copy_(self._block_mask(mask))
        self._sync_mask()

    def block_inputs(self, x: Tensor) -> list[Tensor]:
        return self._run(x)[1]

    def _block_mask(self, mask: bool | Sequence[bool] | Tensor) -> Tensor:
        return bool_mask(mask, self.block_mask.numel(), "block_mask")

    def _sync_mask(self) -> None:
        pass


class LayerBlocks(BlockAPI):
    """BlockAPI for an MLP: `input` stem (`_stem`), blocks `layers.{i}` on a residual stream, masked by torch.where."""

    def _block_names(self) -> list[str]:
        return [f"layers.{i}" for i in range(len(self.layers))]

    def features(self, x: Tensor) -> Tensor:
        """x_L, the stream after the last block."""
        return self._run(x)[0]

    def _stem(self, x: Tensor) -> Tensor:
        """x_0, the stream before the first block: the `input` projection."""
        return self.input(x.flatten(1))

    def _run(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h, inputs = self._stem(x), []
        for i, block in enumerate(self.layers):
            inputs.append(h)
            h = torch.where(self.block_mask[i], block(h), h)
        return h, inputs


# ----------------------------------------------------------------------------- CNNs
def init_conv_bn(model: nn.Module, init: str) -> None:
    """`he`: Kaiming-normal (fan_out) Conv2d weights; BatchNorm2d to (1, 0) either way."""
    if init not in ("he", "default"):
        raise ValueError(f"init must be 'he' or 'default', got {init!r}")
    for m in model.modules():
        if init == "he" and isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def conv_linear_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def pool_fc(h: Tensor, fc: nn.Module) -> Tensor:
    """Global average pooling, then the classifier."""
    return fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def image_channels(family: str, info: Any) -> int:
    """C of a (C, H, W) input, or a ValueError naming the family."""
    if len(info.in_shape) != 3:
        raise ValueError(f"{family} needs (C, H, W) images, got in_shape {info.in_shape}")
    return info.in_shape[0]


# ----------------------------------------------------------------------------- stacked seeds
def stacked_blocks(m: nn.Module, lin: Any, x: Tensor, block: Any, stem: Any = None) -> Tensor:
    """`LayerBlocks.features` for K stacked seeds (skipcore.models.stacking): the `input` stem (then
    `stem`, e.g. an activation, where given), then each block's output `block(b, h)` where
    `block_mask` keeps it, else the stream unchanged."""
    h = lin(m.input)(x.flatten(2))
    h = h if stem is None else stem(h)
    for i, b in enumerate(m.layers):
        h = torch.where(m.block_mask[i], block(b, h), h)
    return h
