"""Stacked forwards: how K seeds of one model class run as one batched pass.

A model module that can train as a seed ensemble registers, at its end, a function that computes
its forward for K stacked copies (`@stacked_forward(TheClass)`). The function reads the module's
structure and buffers from model 0 (`m`) and applies its Linear layers through `lin`:

    lin(module)(h)           # h: (K, B, in) -> (K, B, out), the K seeds' weights of that Linear
    lin.param(owner, name)   # a parameter that is not a Linear's (e.g. a constant bias), (K, 1, ...)

Where a family's forward is written once for both (`_forward(m, lin, h)` in its module), the
module's own `forward` passes `UNSTACKED` (each module is itself, each parameter itself) and the
stacked one `skipcore.train.stacked.Stacked`'s applier, so the two cannot drift apart. Inputs are
(K, B, ...), outputs (K, B, out). `forward_for` looks a model's function up by its class (exactly
that class: a subclass may compute something else).
"""

from __future__ import annotations

from typing import Callable, Optional, Protocol

from torch import Tensor, nn


class StackedLinears(Protocol):
    def __call__(self, module: nn.Module) -> Callable[[Tensor], Tensor]: ...

    def param(self, owner: nn.Module, name: str) -> Tensor: ...


class _Unstacked:
    """The single model: `lin(module)` is the module itself, `lin.param(owner, name)` the attribute."""

    def __call__(self, module: nn.Module) -> nn.Module:
        return module

    def param(self, owner: nn.Module, name: str) -> Tensor:
        return getattr(owner, name)


UNSTACKED = _Unstacked()


StackedForward = Callable[[nn.Module, StackedLinears, Tensor], Tensor]
_FORWARDS: dict[type, StackedForward] = {}


def stacked_forward(cls: type) -> Callable[[StackedForward], StackedForward]:
    """Register the decorated function as the stacked forward of `cls`."""

    def register(fn: StackedForward) -> StackedForward:
        _FORWARDS[cls] = fn
        return fn

    return register


def forward_for(model: nn.Module) -> Optional[StackedForward]:
    """The stacked forward registered for `type(model)`, or None."""
    return _FORWARDS.get(type(model))


def registered() -> dict[type, StackedForward]:
    """Every class with a stacked forward (of the model modules imported so far)."""
    return dict(_FORWARDS)
