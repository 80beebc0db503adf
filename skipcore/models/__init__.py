"""Model registry: each family's torch side, declared next to its builder.

A family's module in this package registers its builder with `@family("name", stackable=...)`;
no list here names them. `declaration(family)` finds it by importing every module of the package
once (a package scan), so a new family is its module plus its spec class in
`skipcore.spec.models` (which declares the torch-free facts: tasks, interfaces, the size
estimate). `stackable`: the seed-ensemble path (`skipcore.train.stacked`) can train K seeds of the
family as one stacked model. A test checks that the registered families equal the spec's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from skipcore.registry import Registry
from skipcore.spec import FAMILIES


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[Any, Any], Any]  # build(spec model params, DataInfo) -> nn.Module
    stackable: bool  # the seed-ensemble path can stack it


_REGISTRY: Registry[Family] = Registry("model family", __name__, FAMILIES,
                                       "register its builder with @family({name!r}) in its module under skipcore/models/")


def family(*names: str, stackable: bool = False) -> Callable[[Callable], Callable]:
    """Register the decorated `build(params, info)` as the builder of the families `names`."""
    return _REGISTRY.registering(names, lambda name, build: Family(name, build, stackable))


registered = _REGISTRY.all  # every registered entry, by name (imports every module of this package once)
declaration = _REGISTRY.get  # one entry; ValueError for a name the spec lacks, LookupError for one no module registers


def builder(name: str) -> Callable[..., Any]:
    return declaration(name).build


def build_model(params: Any, info: Any) -> Any:
    """Build the torch module for `params` (a spec model class) and data `info` (DataInfo)."""
    return builder(params.family)(params, info)
