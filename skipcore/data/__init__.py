"""Data registry: name -> "module:function" returning a `Dataset` (see `base.py`).

One line per entry, imported on first use. A test checks that the keys equal the spec's data names.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from skipcore.data.base import DataInfo, Dataset, MissingDataError

DATASETS: dict[str, str] = {
    "sine": "skipcore.data.synthetic:sine",
    "linear_plus_noise": "skipcore.data.synthetic:linear_plus_noise",
    "fake_images": "skipcore.data.images:fake_images",
    "synthetic_segmentation": "skipcore.data.images:synthetic_segmentation",
    "emnist_letters": "skipcore.data.vision:emnist_letters",
    "cifar10": "skipcore.data.vision:cifar10",
    "digits": "skipcore.data.tabular:digits",
    "diabetes": "skipcore.data.tabular:diabetes",
}


def loader(name: str) -> Callable[..., Dataset]:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    module, _, func = DATASETS[name].partition(":")
    return getattr(import_module(module), func)


def load_dataset(params: Any, *, seed: int, root: str | Path, device: Any = "cpu") -> Dataset:
    """Load the data set named by `params.name` (a spec data class), tensors on `device`.

    The same (params, seed) gives the same tensors. `root` is where torchvision data sets live.
    """
    return loader(params.name)(params, seed=seed, root=Path(root), device=device)


__all__ = ["DATASETS", "DataInfo", "Dataset", "MissingDataError", "load_dataset", "loader"]
