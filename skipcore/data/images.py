"""Offline image data: labelled fake images and a synthetic segmentation task.

`fake_images`: with `learnable` each class c owns a fixed smooth random pattern P_c (drawn at 4x4
and bilinearly upsampled, unit standard deviation); an image of class y is 0.5 P_y, circularly
shifted by a random offset of up to size/4 pixels in each direction, plus N(0, 1) noise. A
template at a fixed place would be solved by a linear classifier; the shifts reward translation-
equivariant features, so a CNN rises well above chance without reaching 100 % at once. Without `learnable` it follows
torchvision's FakeData: N(0, 1) images and uniformly random labels (chance is the ceiling).

`synthetic_segmentation`: one-channel images of 1-3 shapes on a noisy background with per-pixel
class masks (N, H, W) long; class 0 is the background and classes 1.. are shapes (disc, square,
triangle, diamond, ring, plus, horizontal bar, vertical bar; beyond eight, the shapes repeat at a
brighter intensity tier). All shapes of one tier share one brightness distribution, so a pixel's
class comes from the shape around it (context), not its own value; masks need full resolution at
the boundaries, which is what long skips carry.

Both are generated on the CPU (the same tensors on every device), then moved to `device`. The
samples (labels, noise, shifts, shapes) come from `torch.Generator().manual_seed(seed)`, the run
seed; the class patterns of `fake_images` are the task and come from a generator of their own
seeded with the spec's `task_seed` (default 0), so every run seed learns the same classes.
Training and validation sets are independent draws of the same distribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from skipcore.data import dataset
from skipcore.data.base import Dataset

SHAPES = ("disc", "square", "triangle", "diamond", "ring", "plus", "hbar", "vbar")
MAX_OBJECTS = 3
AMPLITUDE = 0.5  # class pattern vs unit noise in fake_images


# ----------------------------------------------------------------------------- fake_images
def _class_patterns(n_classes: int, channels: int, size: int, g: torch.Generator) -> torch.Tensor:
    low = torch.randn(n_classes, channels, 4, 4, generator=g)
    pat = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    pat = pat - pat.mean(dim=(1, 2, 3), keepdim=True)
    return pat / pat.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)


@dataset("fake_images")
def fake_images(params: Any, *, seed: int, root: Path | None = None, device: Any = "cpu") -> Dataset:
    g = torch.Generator().manual_seed(seed)
    c, s, k = params.channels, params.image_size, params.n_classes
    n = params.n_train + params.n_val
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randn(n, c, s, s, generator=g)
    if params.learnable:
        pat = _class_patterns(k, c, s, torch.Generator().manual_seed(params.task_seed))[y]
        shift = torch.randint(-(s // 4), s // 4 + 1, (n, 2), generator=g)
        rows = (torch.arange(s).view(1, s) - shift[:, :1]) % s  # circular shift per image
        cols = (torch.arange(s).view(1, s) - shift[:, 1:]) % s
        pat = pat[torch.arange(n).view(n, 1, 1, 1), torch.arange(c).view(1, c, 1, 1), rows.view(n, 1, s, 1), cols.view(n, 1, 1, s)]
        x = x + AMPLITUDE * pat
    info = params.info()
    nt = params.n_train
    return Dataset(info, x[:nt], y[:nt], x[nt:], y[nt:]).to(device)


# ----------------------------------------------------------------------------- synthetic_segmentation
def _shape_masks(dy: torch.Tensor, dx: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(len(SHAPES), N, H, W) boolean masks of every shape centred at offsets (dy, dx), radius r."""
    ady, adx = dy.abs(), dx.abs()
    d2 = dy**2 + dx**2
    thin = r / 3
    return torch.stack([
        d2 <= r**2,                                                   # disc
        torch.maximum(ady, adx) <= 0.8 * r,                           # square
        (dy >= -r) & (dy <= r) & (adx <= (dy + r) / 2),               # triangle (apex up)
        ady + adx <= r,                                               # diamond
        (d2 <= r**2) & (d2 >= (0.55 * r) ** 2),                       # ring
        ((adx <= thin) & (ady <= r)) | ((ady <= thin) & (adx <= r)),  # plus
        (adx / r) ** 2 + (dy / (0.4 * r)) ** 2 <= 1,                  # horizontal bar
        (dx / (0.4 * r)) ** 2 + (ady / r) ** 2 <= 1,                  # vertical bar
    ])


def _segmentation_set(n: int, size: int, n_classes: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = coords.view(1, size, 1), coords.view(1, 1, size)
    x = 0.3 * torch.randn(n, 1, size, size, generator=g)
    y = torch.zeros(n, size, size, dtype=torch.long)
    for slot in range(MAX_OBJECTS):
        present = torch.rand(n, generator=g) < (1.0 if slot == 0 else 0.6)
        cls = torch.randint(1, n_classes, (n,), generator=g)
        r = (size / 8 + torch.rand(n, generator=g) * size / 8).view(n, 1, 1)
        cy = (r.view(n) + torch.rand(n, generator=g) * (size - 1 - 2 * r.view(n))).view(n, 1, 1)
        cx = (r.view(n) + torch.rand(n, generator=g) * (size - 1 - 2 * r.view(n))).view(n, 1, 1)
        brightness = 0.7 + 0.6 * torch.rand(n, generator=g)
        masks = _shape_masks(yy - cy, xx - cx, r)  # (S, N, H, W)
        shape_idx = (cls - 1) % len(SHAPES)
        mask = masks[shape_idx, torch.arange(n)] & present.view(n, 1, 1)
        tier = ((cls - 1) // len(SHAPES)).float()
        value = (brightness + tier).view(n, 1, 1) + 0.3 * torch.randn(n, size, size, generator=g)
        x[:, 0] = torch.where(mask, value, x[:, 0])
        y = torch.where(mask, cls.view(n, 1, 1), y)
    return x, y


@dataset("synthetic_segmentation")
def synthetic_segmentation(params: Any, *, seed: int, root: Path | None = None, device: Any = "cpu") -> Dataset:
    g = torch.Generator().manual_seed(seed)
    s, k = params.image_size, params.n_classes
    x_train, y_train = _segmentation_set(params.n_train, s, k, g)
    x_val, y_val = _segmentation_set(params.n_val, s, k, g)
    info = params.info()
    return Dataset(info, x_train, y_train, x_val, y_val).to(device)
