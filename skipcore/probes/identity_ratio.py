"""How close each residual block is to the identity (seed 004): ||F(x)|| / ||x|| per block.

For every block, on the inputs it actually receives in one forward pass (`model.block_inputs`) of
`n_samples` validation examples, with the model in eval mode: r = ||branch(x)||_F / ||x||_F per
sample (Frobenius norm over all non-batch dims; `branch` includes any residual scale), then the
mean and median over samples. A ratio near 0 means the block is close to the identity. Downsampling
blocks (shape-changing, projection shortcut) are flagged: their ratio compares tensors of different
shapes and reads differently.
Result: {"blocks", "ratio" (mean), "median", "downsample", "n_samples", "mean" (the mean of "ratio"
over the blocks whose ratio is finite, None if none; the run summary's identity_ratio.mean)}; the worker adds
"at_init", the same result on the run's model at initialisation (`AT_INIT`, see `skipcore.probes`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

BATCH = 256
SUMMARY_KEYS = ("mean",)  # copied into the run summary as identity_ratio.<key> (see skipcore.probes)
FIGURE = "identity_ratio"  # its figure in skipcore.figures
AT_INIT = True  # the worker also runs it on the model at initialisation (result["at_init"])


@torch.no_grad()
def run(model: nn.Module, data: Any, params: Any) -> dict:
    x = data.x_val[: params.n_samples]
    blocks = model.blocks()
    was_training = model.training
    model.eval()
    try:
        ratios: list[list[torch.Tensor]] = [[] for _ in blocks]
        for i in range(0, len(x), BATCH):
            inputs = model.block_inputs(x[i : i + BATCH])
            for j, ((_, blk), xin) in enumerate(zip(blocks, inputs)):
                num = blk.branch(xin).flatten(1).norm(dim=1)
                den = xin.flatten(1).norm(dim=1).clamp_min(1e-12)
                ratios[j].append((num / den).float().cpu())
    finally:
        model.train(was_training)
    per_block = [torch.cat(r) for r in ratios]
    means = [float(r.mean()) for r in per_block]
    finite = [m for m in means if math.isfinite(m)]
    return {
        "blocks": [name for name, _ in blocks],
        "ratio": means,
        "median": [float(r.median()) for r in per_block],
        "downsample": [bool(blk.downsample) for _, blk in blocks],
        "n_samples": len(x),
        "mean": sum(finite) / len(finite) if finite else None,
    }
