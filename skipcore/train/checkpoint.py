"""Checkpoints to and from bytes: model, optimizer, epoch, phase, loop state and every RNG.

A checkpoint holds the RNG states of torch (CPU and every CUDA device), numpy, python `random`
and the loop's `torch.Generator` (batch order, augmentation), so that a resumed run continues
exactly where it stopped: on CPU, 3 epochs + resume 3 gives bit-identical losses and weights to 6
epochs straight (tests/skipcore/test_loop.py). The dict holds tensors, numbers, strings, lists and
dicts only, so `load` uses `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
import random
from typing import Any, Optional

import numpy as np
import torch

FORMAT = 1


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
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint format {state.get('format')!r} is not {FORMAT}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    generator.set_state(state["generator"].cpu())


def save(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load(blob: bytes, map_location: Any = "cpu") -> dict[str, Any]:
    return torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)
