"""A checkpoint's bytes, format 2 (`skipcore.train.checkpoint.save`: the optimizer's tensors packed
into one buffer per dtype and device) against format 1 (`torch.save` of the captured state, every
tensor its own record), side by side in one process: save and load of the telescope MLP's state
(depth 50, width 64, Adam after a few full-batch steps, one thread). Pairs alternate the order;
prints ms per save / load, median [min, max], and the ratios format 2 / format 1.

    .venv/bin/python bench/checkpoint_format.py [--depth 50] [--rounds 7] [--calls 20]
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench._cli import options  # noqa: E402
from bench.train_overhead import build  # noqa: E402
from skipcore.spec.train import TrainParams  # noqa: E402
from skipcore.train import checkpoint as ckpt  # noqa: E402
from skipcore.train.loop import make_optimizer  # noqa: E402


def format1(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(dict(state, format=1), buf)
    return buf.getvalue()


def per_call(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def main() -> int:
    args = options(depth=50, rounds=7, calls=20)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    model = build(args.depth, 64, device)
    opt = make_optimizer(model, TrainParams(epochs=1), device)
    x, y = torch.randn(1024, 1), torch.randn(1024, 1)
    for _ in range(3):
        F.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    state = ckpt.capture(model, opt, epoch=3, phase=None, generator=torch.Generator(), loop={"steps": 3})
    blobs = {1: format1(state), 2: ckpt.save(state)}
    back = ckpt.load(blobs[2])
    assert all(torch.equal(back["optimizer"]["state"][k][n], t)
               for k, d in state["optimizer"]["state"].items() for n, t in d.items())
    sides = {"save": {1: lambda: format1(state), 2: lambda: ckpt.save(state)},
             "load": {1: lambda: ckpt.load(blobs[1]), 2: lambda: ckpt.load(blobs[2])}}
    print(f"torch {torch.__version__}, depth {args.depth}: {sum(1 for _ in model.parameters())} parameters, "
          f"{len(blobs[1]) / 1e6:.2f} MB (format 1), {len(blobs[2]) / 1e6:.2f} MB (format 2)")
    for what, fns in sides.items():
        times: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.rounds):
            for fmt in ((1, 2) if r % 2 == 0 else (2, 1)):
                times[fmt].append(per_call(fns[fmt], args.calls))
        ratios = sorted(b / a for a, b in zip(times[1], times[2]))
        line = ", ".join(f"format {f} {statistics.median(t) * 1e3:.2f} ms [{min(t) * 1e3:.2f}, {max(t) * 1e3:.2f}]"
                         for f, t in times.items())
        print(f"{what}: {line}; format 2 / format 1 {statistics.median(ratios):.2f} "
              f"[{ratios[0]:.2f}, {ratios[-1]:.2f}] ({len(ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
