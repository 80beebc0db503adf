"""EMNIST letters and CIFAR-10 through the real torchvision loaders (downloads are off).

Each set is read once by torchvision (`download=False`), converted to float tensors, normalised
with the per-channel mean/std of the training images used (after `subset`), and moved whole to
`device`.

- `cifar10`: `torchvision.datasets.CIFAR10(root, train=True/False)`; the official test set (10 000
  images) is the test set (`x_test`, scored once after training); the validation set is a seeded
  hold-out of `val_size` (default 5000) of the training images (`split_indices` with the spec's
  `split_seed`), after `subset` (the first N training images). `augment` adds the
  standard random crop (zero-pad 4, black in pixel space) + horizontal flip as an on-device batch
  function `augment(x, generator)`. If only `<root>/cifar-10-python.tar.gz` is there it is
  extracted first (no network).
- `emnist_letters`: `torchvision.datasets.EMNIST(root, split="letters", train=True)`. Labels 1..26
  become 0..25; images are transposed back upright (the raw EMNIST files store them transposed).
  The official test split (20 800 images) is the test set; the validation set is a seeded hold-out
  of `val_size` (default 0.1) of the training split (after `subset`, the first N training images).
Missing files raise `MissingDataError` naming the files and where to put them under root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from skipcore.data import dataset
from skipcore.data.base import Dataset, MissingDataError, split_indices

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
CIFAR_TAR = "cifar-10-python.tar.gz"
EMNIST_FILES = ("emnist-letters-train-images-idx3-ubyte", "emnist-letters-train-labels-idx1-ubyte",
                "emnist-letters-test-images-idx3-ubyte", "emnist-letters-test-labels-idx1-ubyte")
DOWNLOADS_OFF = "Downloads are off in skipcore: put the files there yourself."


# ----------------------------------------------------------------------------- helpers
def _normalise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    dims = (0, 2, 3)
    mean, std = train.mean(dim=dims, keepdim=True), train.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


def crop_flip(pad_value: torch.Tensor, padding: int = 4) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Batch random crop (pad `padding` with the per-channel `pad_value`) + horizontal flip."""

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        fill = pad_value.to(device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        xp = F.pad(x - fill, (padding,) * 4) + fill
        dev = x.device
        oy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=dev)
        ox = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=dev)
        rows = (oy + torch.arange(h, device=dev)).view(n, 1, h, 1)
        cols = (ox + torch.arange(w, device=dev)).view(n, 1, 1, w)
        idx_n = torch.arange(n, device=dev).view(n, 1, 1, 1)
        idx_c = torch.arange(c, device=dev).view(1, c, 1, 1)
        out = xp[idx_n, idx_c, rows, cols]
        flip = torch.rand(n, generator=generator, device=dev) < 0.5
        return torch.where(flip.view(n, 1, 1, 1), out.flip(3), out)

    return augment


def _missing(what: str, where: Path, files: list[str], extra: str = "") -> MissingDataError:
    return MissingDataError(
        f"{what} not found: missing {', '.join(files)} in {where}. {extra}{DOWNLOADS_OFF}"
    )


# ----------------------------------------------------------------------------- cifar10
def _cifar_files_present(root: Path) -> list[str]:
    folder = root / CIFAR_FOLDER
    missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    if missing and (root / CIFAR_TAR).is_file():
        from torchvision.datasets.utils import extract_archive

        extract_archive(str(root / CIFAR_TAR), str(root))
        missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    return missing


@dataset("cifar10")
def cifar10(params: Any, *, seed: int, root: Path, device: Any = "cpu") -> Dataset:
    from torchvision.datasets import CIFAR10

    root = Path(root)
    missing = _cifar_files_present(root)
    if missing:
        raise _missing(
            "CIFAR-10", root / CIFAR_FOLDER, missing,
            f"Put the python-version batches (data_batch_1..5, test_batch, batches.meta) in "
            f"{root / CIFAR_FOLDER}/, or the archive {CIFAR_TAR} (from https://www.cs.toronto.edu/~kriz/) in {root}/. ",
        )
    try:
        train, test = CIFAR10(str(root), train=True, download=False), CIFAR10(str(root), train=False, download=False)
    except RuntimeError as exc:  # torchvision's MD5 check failed
        raise MissingDataError(
            f"CIFAR-10 files in {root / CIFAR_FOLDER} are present but torchvision rejects them ({exc}); "
            f"replace them with the original python-version batches. {DOWNLOADS_OFF}"
        ) from exc
    x_all = _cifar_images(train)
    y_all = torch.as_tensor(train.targets, dtype=torch.long)
    if params.subset is not None:
        x_all, y_all = x_all[: params.subset], y_all[: params.subset]
    tr, va, _ = split_indices(len(x_all), params.split_seed, "cifar10", params.val_size)
    x_test, y_test = _cifar_images(test), torch.as_tensor(test.targets, dtype=torch.long)
    mean, std = x_all[tr].mean(dim=(0, 2, 3)), x_all[tr].std(dim=(0, 2, 3)).clamp_min(1e-6)
    x_train, x_val, x_test = _normalise(x_all[tr], x_all[va], x_test)
    augment = crop_flip(-mean / std) if params.augment else None
    info = params.info()
    return Dataset(info, x_train, y_all[tr], x_val, y_all[va], augment, x_test, y_test).to(device)


def _cifar_images(ds: Any) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).float() / 255


# ----------------------------------------------------------------------------- emnist_letters
def _emnist_present(raw: Path) -> list[str]:
    missing = [f for f in EMNIST_FILES if not (raw / f).is_file()]
    if missing:
        from torchvision.datasets.utils import extract_archive

        for f in list(missing):
            for gz in (raw / f"{f}.gz", raw / "gzip" / f"{f}.gz"):
                if gz.is_file():
                    extract_archive(str(gz), str(raw / f))
                    missing.remove(f)
                    break
    return missing


@dataset("emnist_letters")
def emnist_letters(params: Any, *, seed: int, root: Path, device: Any = "cpu") -> Dataset:
    root = Path(root)
    raw = root / "EMNIST" / "raw"
    legacy = [root / "EMNIST" / "processed" / f"{part}_letters.pt" for part in ("training", "test")]
    missing = [] if all(f.is_file() for f in legacy) else _emnist_present(raw)
    if missing:
        raise _missing(
            "EMNIST letters", raw, missing,
            f"Unzip the letters files of EMNIST's gzip.zip (https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip: "
            f"gzip/emnist-letters-{{train,test}}-{{images-idx3,labels-idx1}}-ubyte.gz, gunzipped or not) into {raw}/. ",
        )
    x, y = _emnist_split(root, train=True)
    if params.subset is not None:
        x, y = x[: params.subset], y[: params.subset]
    tr, va, _ = split_indices(len(x), params.split_seed, "emnist_letters", params.val_size)
    x_test, y_test = _emnist_split(root, train=False)
    x_train, x_val, x_test = _normalise(x[tr], x[va], x_test)
    info = params.info()
    return Dataset(info, x_train, y[tr], x_val, y[va], None, x_test, y_test).to(device)


def _emnist_split(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import EMNIST

    ds = EMNIST(str(root), split="letters", train=train, download=False)
    x = ds.data.transpose(-1, -2).unsqueeze(1).float() / 255  # raw EMNIST is stored transposed
    return x, ds.targets.long() - 1  # letters 1..26 -> 0..25


__all__ = ["cifar10", "crop_flip", "emnist_letters"]
