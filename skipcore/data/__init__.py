"""Data registry: each data set's loader, declared next to its definition.

A loader module in this package registers `loader(params, *, seed, root, device) -> Dataset` with
`@dataset("name")`; no list here names them. `declaration(name)` finds it by importing every
module of the package once (a package scan), so a new data set is its loader plus its spec class in
`skipcore.spec.data` (which declares the task, input shape and outputs without torch; the loader
returns `params.info()`). A test checks that the registered names equal the spec's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skipcore.data.base import DataInfo, Dataset, MissingDataError
from skipcore.registry import Registry
from skipcore.spec import DATASET_NAMES


@dataclass(frozen=True)
class DataSet:
    name: str
    load: Callable[..., Dataset]


_REGISTRY: Registry[DataSet] = Registry("data set", __name__, DATASET_NAMES,
                                        "register its loader with @dataset({name!r}) in its module under skipcore/data/")


def dataset(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Register the decorated function as the loader of data set `name`."""
    return _REGISTRY.registering((name,), DataSet)


registered = _REGISTRY.all  # every registered entry, by name (imports every module of this package once)
declaration = _REGISTRY.get  # one entry; ValueError for a name the spec lacks, LookupError for one no module registers


def loader(name: str) -> Callable[..., Dataset]:
    return declaration(name).load


def load_dataset(params: Any, *, seed: int, root: str | Path, device: Any = "cpu") -> Dataset:
    """Load the data set named by `params.name` (a spec data class), tensors on `device`.

    The same (params, seed) gives the same tensors. `root` is where torchvision data sets live.
    """
    return loader(params.name)(params, seed=seed, root=Path(root), device=device)


__all__ = ["DataInfo", "DataSet", "Dataset", "MissingDataError", "dataset", "declaration", "load_dataset", "loader",
           "registered"]
