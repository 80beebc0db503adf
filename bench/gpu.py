"""GPU throughput of the seed workloads: the fast paths vs plain eager fp32, side by side.

1. The seed-000 depth sweep: plain MLP (width 64, ReLU, sine N = 1024, Adam lr 1e-3, batch 32),
   depths 2..50 x 100 epochs, wall time per depth and in all. Such MLPs are dispatch-bound (a few
   microseconds of work per kernel), so the fast paths remove launches:
     eager      the plain loop: randperm on the device, index slices, fused Adam
     graph      the whole training step (forward, backward, Adam with capturable=True) captured
                in one CUDA graph and replayed per mini-batch
     graph_ep   one CUDA graph per epoch: every step of the epoch (the gathers from a per-epoch
                permutation included) captured once, replayed once per epoch
     compile    (--compile) torch.compile(mode="reduce-overhead") of the step; its compile time
                is reported apart
2. The seed-001 CNN (`skip_cnn`, batch norm) on `fake_images` at CIFAR size (3x32x32, 10 classes),
   batch 128, Adam: training images/s, eager fp32 NCHW vs bf16 autocast + channels_last.

Each pair runs alternately (A B, B A, ...) in this process; ratios are eager time / fast time
(> 1: faster), with their spread over depths / repeats. Without a CUDA device it says so, runs a
tiny CPU sanity version of the eager and bf16 + channels_last paths (graphs need CUDA) and
exits 0.

    .venv/bin/python bench/gpu.py [--depths 2-50] [--epochs 100] [--cnn-steps 100] [--compile]
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from torch import nn

from bench._cli import options
from bench._common import hand_epoch, sync

BATCH = 32
N = 1024


def plain_mlp(depth: int, width: int = 64) -> nn.Sequential:
    dims = [1] + [width] * (depth - 1)
    layers: list[nn.Module] = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], 1))


def sine(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = -2 * math.pi + 4 * math.pi * torch.rand(N, 1, generator=g)
    return x.to(device), torch.sin(x).to(device)


def adam(model: nn.Module, device: torch.device, capturable: bool = False) -> torch.optim.Optimizer:
    if device.type == "cuda":
        return torch.optim.Adam(model.parameters(), lr=1e-3, fused=True, capturable=capturable)
    return torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)


def eager(depth: int, epochs: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = plain_mlp(depth).to(device)
    opt = adam(model, device)
    x, y = sine(device)
    g = torch.Generator(device=device).manual_seed(0)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        hand_epoch(model, opt, x, y, BATCH, g).item()  # the epoch's loss read once, as the service's loop does
    sync(device)
    return time.perf_counter() - t0


def _captured(depth: int, device: torch.device, steps: int):
    """A model, its data, a static permutation and a CUDA graph of `steps` training steps reading
    mini-batches i*BATCH.. of that permutation (warmed up on a side stream first, as CUDA graphs need)."""
    torch.manual_seed(0)
    model = plain_mlp(depth).to(device)
    opt = adam(model, device, capturable=True)
    x, y = sine(device)
    perm = torch.randperm(N, device=device)
    acc = torch.zeros((), device=device)

    def body() -> None:
        for i in range(steps):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            loss = F.mse_loss(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=False)
            acc.add_(loss.detach())

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph, perm, acc


def graphed(depth: int, epochs: int, device: torch.device, per_epoch: bool) -> float:
    """One graph per step (replayed N/BATCH times an epoch) or one per epoch (replayed once); the
    permutation is drawn each epoch into the graph's static buffer."""
    steps = N // BATCH
    graph, perm, acc = _captured(depth, device, steps if per_epoch else 1)
    g = torch.Generator(device=device).manual_seed(0)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        fresh = torch.randperm(N, generator=g, device=device)
        acc.zero_()
        if per_epoch:
            perm.copy_(fresh)
            graph.replay()
        else:
            for i in range(steps):
                perm[:BATCH].copy_(fresh[i * BATCH : (i + 1) * BATCH])
                graph.replay()
        acc.item()
    sync(device)
    return time.perf_counter() - t0


def compiled(depth: int, epochs: int, device: torch.device) -> tuple[float, float]:
    """torch.compile(mode="reduce-overhead") of the training step: (compile + first epoch, the rest)."""
    torch.manual_seed(0)
    model = plain_mlp(depth).to(device)
    opt = adam(model, device, capturable=True)
    x, y = sine(device)

    @torch.compile(mode="reduce-overhead")
    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)
        return loss.detach()

    g = torch.Generator(device=device).manual_seed(0)
    times = []
    for _ in range(epochs):
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(N, generator=g, device=device)
        acc = torch.zeros((), device=device)
        for i in range(0, N, BATCH):
            idx = perm[i : i + BATCH]
            acc += step(x[idx], y[idx])
        acc.item()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], sum(times[1:]) * epochs / max(1, epochs - 1)


def depth_sweep(depths: list[int], epochs: int, device: torch.device, use_compile: bool) -> None:
    fast = ["graph", "graph_ep"] if device.type == "cuda" else []
    total = {k: 0.0 for k in ["eager", *fast, *(["compile"] if use_compile else [])]}
    ratios: dict[str, list[float]] = {k: [] for k in total if k != "eager"}
    compile_first = 0.0
    print(f"depth sweep: plain MLP width 64, batch {BATCH}, {epochs} epochs, depths {depths[0]}..{depths[-1]} "
          f"({len(depths)}); seconds per depth")
    print("depth " + " ".join(f"{k:>9}" for k in total))
    for j, d in enumerate(depths):
        t: dict[str, float] = {}
        order = ["eager", *fast] if j % 2 == 0 else [*fast, "eager"]
        for k in order:
            t[k] = eager(d, epochs, device) if k == "eager" else graphed(d, epochs, device, per_epoch=k == "graph_ep")
        if use_compile:
            first, t["compile"] = compiled(d, epochs, device)
            compile_first += first
        for k, v in t.items():
            total[k] += v
            if k != "eager":
                ratios[k].append(t["eager"] / v)
        print(f"{d:>5} " + " ".join(f"{t[k]:9.3f}" for k in total), flush=True)
    print("all depths: " + ", ".join(f"{k} {v:.1f} s" for k, v in total.items()))
    for k, rs in ratios.items():
        rs = sorted(rs)
        print(f"  eager / {k}: whole sweep {total['eager'] / total[k]:.2f}x; per depth median "
              f"{statistics.median(rs):.2f}x [min {rs[0]:.2f}, max {rs[-1]:.2f}]")
    if use_compile:
        print(f"  compile: first epochs (compilation) {compile_first:.1f} s in all, not in the totals")


def cnn_images_per_s(steps: int, batch: int, device: torch.device, fast: bool, data, model_params) -> float:
    from skipcore.models import build_model

    torch.manual_seed(0)
    model = build_model(model_params, data.info).to(device)
    x = data.x_train[:batch].to(device)
    y = data.y_train[:batch].to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = adam(model, device)
    dtype = torch.bfloat16

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=fast):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(min(10, steps)):  # warm-up (cuDNN autotuning, allocator)
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


def cnn(steps: int, batch: int, repeats: int, device: torch.device) -> None:
    from skipcore.data import load_dataset
    from skipcore.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate({
        "name": "gpu-bench-cnn", "model": {"family": "skip_cnn", "batch_norm": True},
        "data": {"name": "fake_images", "n_train": batch, "n_val": 8, "image_size": 32, "channels": 3,
                 "n_classes": 10},
        "train": {"optimizer": "adam", "lr": 0.001, "epochs": 1, "batch_size": batch}, "seeds": [0]})
    data = load_dataset(spec.data, seed=0, root=".")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    a, b = [], []
    for i in range(repeats):
        for fast in ((False, True) if i % 2 == 0 else (True, False)):
            (b if fast else a).append(cnn_images_per_s(steps, batch, device, fast, data, spec.model))
    rs = sorted(y / x for x, y in zip(a, b))
    print(f"seed-001 skip_cnn, fake_images 3x32x32, batch {batch}, {steps} steps x {repeats}: eager fp32 "
          f"{statistics.median(a):.0f} images/s, bf16 autocast + channels_last {statistics.median(b):.0f} images/s; "
          f"ratio median {statistics.median(rs):.2f}x [min {rs[0]:.2f}, max {rs[-1]:.2f}, n={len(rs)}]")


def parse_depths(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    args = options(depths="2-50", epochs=100, cnn_steps=100, cnn_batch=128, repeats=3,
                   compile=(False, "also torch.compile(mode='reduce-overhead')"), skip_mlp=False, skip_cnn=False)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
        depths, epochs, steps, batch, repeats = parse_depths(args.depths), args.epochs, args.cnn_steps, args.cnn_batch, args.repeats
    else:
        device = torch.device("cpu")
        print("no CUDA device: a tiny CPU sanity run of the eager and bf16 + channels_last paths "
              "(depths 2-3, 2 epochs; CNN 3 steps of 8); CUDA graphs and their figures need a GPU")
        depths, epochs, steps, batch, repeats = [2, 3], 2, 3, 8, 2
        args.compile = False
    if not args.skip_mlp:
        depth_sweep(depths, epochs, device, args.compile)
    if not args.skip_cnn:
        cnn(steps, batch, repeats, device)


if __name__ == "__main__":
    main()
