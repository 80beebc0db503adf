"""Overhead of `skipcore.train.fit` + the worker's reporter over a minimal hand-written loop.

The same telescope MLP (depth 50, width 64, sine N=1024, Adam lr 1e-3) is trained
  (a) by `minimal()` below: on-device tensors, randperm index slices, fused (else foreach) Adam,
      the epoch's loss read once per epoch, nothing else;
  (b) by `fit()` with the real `worker.reporter.DbReporter` on an embedded SQLite database and a
      local object store in a temp dir, the `weight_magnitude` probe (every 10) and
      checkpoint_every 10, i.e. what the worker runs for such a spec (log_every: spec default 1),
      with the worker's checkpoint floor (SKIPCORE_CHECKPOINT_MIN_SECONDS, 5 s: set it to 0 in
      the environment to store every checkpoint_every-th epoch's).
(a) and (b) alternate in one process, same threads; the script prints the median of the
paired ratios (b)/(a), and with --breakdown the same for fit's parts (NullReporter, no probes).

    .venv/bin/python bench/train_overhead.py [--device cuda] [--epochs 20] [--repeats 7]
        [--log-every 1] [--val-every auto] [--checkpoint-every 10]   (the spec fields of (b))
Target: (b)/(a) <= 1.05.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from bench._cli import options
from bench._common import hand_epoch, new_run, paired, spread, tempdir, worker_context
from skipcore.data.synthetic import sine
from skipcore.models.telescope import TelescopeMLP
from skipcore.spec.data import Sine
from skipcore.spec.probes import WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train.loop import fit, seed_everything
from skipcore.train.reporter import NullReporter


def build(depth: int, width: int, device) -> TelescopeMLP:
    return TelescopeMLP(in_features=1, out_features=1, depth=depth, width=width).to(device)


def minimal(model, x, y, epochs: int, bs: int, seed: int, val=None) -> float:
    """The hand-written reference loop (`val`: (x, y) to evaluate once per epoch, as fit does)."""
    device = x.device
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, ValueError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    g = torch.Generator(device=device).manual_seed(seed)
    n = len(x)
    last = 0.0
    for _ in range(epochs):
        acc = hand_epoch(model, opt, x, y, bs, g, weighted=True)
        if val is not None:
            with torch.no_grad():
                acc = torch.stack([acc / n, F.mse_loss(model(val[0]), val[1])])
            last = acc.tolist()[0]
        else:
            last = (acc / n).item()
    return last


def main() -> None:
    args = options(device="cpu", threads=1, depth=50, width=64, epochs=20, epochs_full=(60, "epochs at full batch"),
                   repeats=7, batch="32,full", breakdown=(False, "also time fit() without reporter/probes"), log_every=1,
                   val_every=("auto", "the spec's train.val_every for (b)"),
                   checkpoint_every=(10, "the spec's train.checkpoint_every for (b)"))
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    data = sine(Sine(name="sine", n_train=1024, n_val=256), seed=0, device=device)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} device {device} "
          f"nproc {os.cpu_count()} depth {args.depth} width {args.width}")

    with tempdir() as tmp:
        ctx = worker_context(Path(tmp))
        from worker.reporter import DbReporter

        for b in args.batch.split(","):
            bs = None if b == "full" else int(b)
            epochs = args.epochs_full if bs is None else args.epochs
            train = TrainParams(epochs=epochs, batch_size=bs, checkpoint_every=args.checkpoint_every,
                                log_every=args.log_every, val_every=args.val_every)  # "30" is read as 30
            probes = [WeightMagnitude(name="weight_magnitude", every=10)]

            def run_a():
                seed_everything(0)
                minimal(build(args.depth, args.width, device), data.x_train, data.y_train, epochs, bs or 1024, 0)

            def run_b():
                seed_everything(0)
                model = build(args.depth, args.width, device)
                rep = DbReporter(ctx, new_run(ctx.sessions), epochs)
                try:
                    fit(model, data, train, probes=probes, reporter=rep, seed=0, device=device)
                finally:
                    rep.close()

            def run_a_val():
                seed_everything(0)
                minimal(build(args.depth, args.width, device), data.x_train, data.y_train, epochs, bs or 1024, 0,
                        val=(data.x_val, data.y_val))

            def run_c():  # fit, no reporter, no probes, layer stats only at the last epoch
                seed_everything(0)
                t2 = train.model_copy(update={"log_every": 10**5, "checkpoint_every": 10**5})
                fit(build(args.depth, args.width, device), data, t2, reporter=NullReporter(), seed=0, device=device)

            run_a(), run_b()  # burn in
            r = paired(run_a, run_b, args.repeats, device)
            label = "full" if bs is None else str(bs)
            print(f"batch {label:>4} epochs {epochs}: minimal {r['a_med']*1e3/epochs:.2f} ms/epoch, "
                  f"fit+DbReporter {r['b_med']*1e3/epochs:.2f} ms/epoch")
            print(f"  ratio fit+DbReporter/minimal: median {r['median']:.3f}  [{spread(r['ratios'])}]")
            if args.breakdown:
                r1 = paired(run_a_val, run_b, args.repeats, device)
                print(f"  ratio fit+DbReporter/(minimal + val loss per epoch): median {r1['median']:.3f}"
                      f"  [{spread(r1['ratios'])}]")
                r2 = paired(run_a, run_c, args.repeats, device)
                print(f"  ratio fit(NullReporter, no probes, no layer stats)/minimal: median {r2['median']:.3f}"
                      f"  [{spread(r2['ratios'])}]")
        ctx.engine.dispose()


if __name__ == "__main__":
    main()
