"""What a checkpoint every 10 epochs costs the training thread, side by side in one process: the
telescope MLP (depth 50, width 64, Adam, full batch of 1024 sine points, one thread) trains N steps
with no checkpoint, with the reporter's way (`ckpt.save` on the training thread, the bytes handed
to a thread that stores them), and with the way before it (a copy of the tensors, serialised on a
thread of its own while training goes on). Storing (file, fsync, database) is left out: it waits on
I/O without the GIL in both. Rounds alternate the order; prints ms a step, median [min, max].

    .venv/bin/python bench/checkpoint_cost.py [--steps 60] [--every 10] [--rounds 6]
"""

from __future__ import annotations

import statistics
import sys
import threading
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


def copied(obj):
    """The state with its tensors cloned, as the reporter copied it before it serialised on a thread."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: copied(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(copied(v) for v in obj)
    return obj


def main() -> int:
    args = options(steps=60, every=10, rounds=6)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    model = build(50, 64, device)
    opt = make_optimizer(model, TrainParams(epochs=1), device)
    x, y = torch.randn(1024, 1), torch.randn(1024, 1)
    gen = torch.Generator()

    def step() -> None:
        F.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def run(way: str) -> float:
        thread = None
        t0 = time.perf_counter()
        for i in range(1, args.steps + 1):
            step()
            if way == "none" or i % args.every:
                continue
            if thread is not None:
                thread.join()
            state = ckpt.capture(model, opt, epoch=i, phase=None, generator=gen, loop={})
            if way == "on the training thread":
                blob = ckpt.save(state)
                thread = threading.Thread(target=len, args=(blob,))
            else:
                thread = threading.Thread(target=ckpt.save, args=(copied(state),))
            thread.start()
        if thread is not None:
            thread.join()
        return (time.perf_counter() - t0) / args.steps * 1e3

    ways = ["none", "on the training thread", "copied, on a thread"]
    for _ in range(10):
        step()
    got: dict[str, list[float]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for way in ways if r % 2 == 0 else ways[::-1]:
            got[way].append(run(way))
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {args.steps} steps, a checkpoint every "
          f"{args.every}, {args.rounds} rounds; torch {torch.__version__}, 1 thread")
    base = statistics.median(got["none"])
    for way, ms in got.items():
        med = statistics.median(ms)
        print(f"{way:24s} {med:.2f} ms a step [{min(ms):.2f}, {max(ms):.2f}]; +{med - base:.2f} ms a step, "
              f"{(med - base) * args.every:.1f} ms a checkpoint")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
