"""Checkpoints to and from bytes: model, optimizer, epoch, phase, loop state and every RNG.

A checkpoint holds the RNG states of torch (CPU and every CUDA device), numpy, python `random`
and the loop's `torch.Generator` (batch order, augmentation), so that a resumed run continues
exactly where it stopped: on CPU, 3 epochs + resume 3 gives bit-identical losses and weights to 6
epochs straight (tests/skipcore/test_loop.py). The dict holds tensors, numbers, strings, lists and
dicts only, so `load` uses `torch.load(weights_only=True)`.

On disk (`save`, format 2) the optimizer's tensors are packed: `torch.save` spends about 50 us of
Python on every tensor it writes, and an Adam state holds three per parameter (309 tensors for a
depth-50 MLP, against the model's 103), which only a resume reads. They are written as one flat
buffer per dtype and device, with where each came from; `load` gives them back as they were.
`model` stays a plain state_dict, so `torch.load(f, weights_only=True)["model"]` loads into the
model without skipcore. Format-1 blobs (every tensor its own record) still load.
"""

from __future__ import annotations

import io
import math
import random
from typing import Any, Optional

import numpy as np
import torch

FORMAT = 2
READABLE = (1, 2)  # the state's layout is the same in both; only format 2 packs the optimizer on disk
_PACKED = "packed_tensor"  # a packed tensor's place in the optimizer's tree: [buffer, offset, shape]


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def capture(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    phase: Optional[int],
    generator: torch.Generator,
    loop: dict[str, Any],
) -> dict[str, Any]:
    """The state after `epoch` completed epochs. References live tensors: `save` it promptly."""
    return {
        "format": FORMAT,
        "epoch": epoch,
        "phase": phase,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "generator": generator.get_state(),
        "loop": loop,
    }


def restore(
    state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> None:
    """Load model, optimizer, RNGs and generator from `state` (the loop reads epoch/phase/loop)."""
    if state.get("format") not in READABLE:
        raise ValueError(f"checkpoint format {state.get('format')!r} is not one of {READABLE}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    generator.set_state(state["generator"].cpu())


def save(state: dict[str, Any]) -> bytes:
    """The state as bytes, its optimizer packed (see the module docstring)."""
    out = dict(state, format=FORMAT)
    if "optimizer" in state:
        out["optimizer"] = _pack(state["optimizer"])
    buf = io.BytesIO()
    torch.save(out, buf)
    return buf.getvalue()


def load(blob: bytes, map_location: Any = "cpu") -> dict[str, Any]:
    """A state from `save` (format 2) or an earlier one (format 1), its optimizer as it was captured."""
    state = torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)
    opt = state.get("optimizer")
    if isinstance(opt, dict) and set(opt) == {"tree", "buffers"}:
        state["optimizer"] = _unpack(opt["tree"], opt["buffers"])
    return state


def _pack(tree: Any) -> dict[str, Any]:
    """`tree` with every tensor replaced by {_PACKED: [buffer, offset, shape]}, and the buffers:
    the tensors of one dtype and device flattened and concatenated, in the order they were met."""
    groups: dict[tuple, list] = {}  # (dtype, device) -> [buffer index, flattened tensors, numel so far]

    def walk(node: Any) -> Any:
        if isinstance(node, torch.Tensor):
            group = groups.setdefault((node.dtype, node.device), [len(groups), [], 0])
            flat = node.detach().reshape(-1)
            group[1].append(flat)
            group[2] += flat.numel()
            return {_PACKED: [group[0], group[2] - flat.numel(), list(node.shape)]}
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(walk(v) for v in node)
        return node

    packed = walk(tree)
    return {"tree": packed, "buffers": [torch.cat(flats) for _, flats, _ in groups.values()]}


def _unpack(tree: Any, buffers: list[torch.Tensor]) -> Any:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {_PACKED}:
                i, offset, shape = node[_PACKED]
                return buffers[i][offset: offset + math.prod(shape)].view(shape).clone()
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(walk(v) for v in node)
        return node

    return walk(tree)
