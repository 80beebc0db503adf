"""8 seeds of the depth-50 telescope MLP (width 64, sine N=1024, Adam, batch 32): one stacked-weight
ensemble (`skipcore.train.ensemble.fit_ensemble`) vs 8 sequential `fit` runs (NullReporter, no
probes; `--probes` adds weight_magnitude and gradient_flow to both sides). Alternated in one
process at the same thread count; prints the median paired speed-up.

    .venv/bin/python bench/bench_ensemble.py [--seeds 8] [--epochs 2] [--repeats 3] [--batch 0 = full]
Target: >= 4x on CPU at batch 32.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench._cli import options
from bench._common import paired, spread
from skipcore.spec.data import Sine
from skipcore.spec.models import TelescopeMLP
from skipcore.spec.probes import GradientFlow, WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train.ensemble import build_models, fit_ensemble
from skipcore.train.loop import fit


def main() -> None:
    args = options(device="cpu", threads=1, seeds=8, depth=50, epochs=2, batch=32, repeats=3, probes=False)
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    model = TelescopeMLP(family="telescope_mlp", depth=args.depth, width=64)
    data = Sine(name="sine", n_train=1024, n_val=256)
    train = TrainParams(epochs=args.epochs, batch_size=args.batch or None)
    probes = [WeightMagnitude(name="weight_magnitude", every=10), GradientFlow(name="gradient_flow")] if args.probes else []

    def sequential():
        for s in seeds:
            (m,), (d,) = build_models(model, data, [s], device=args.device)
            fit(m, d, train, probes=probes, seed=s, device=args.device)

    def ensemble():
        models, datasets = build_models(model, data, seeds, device=args.device)
        fit_ensemble(models, datasets, train, seeds=seeds, probes=probes, device=args.device)

    ensemble()  # burn in
    r = paired(ensemble, sequential, args.repeats, args.device)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} device {args.device} "
          f"{args.seeds} seeds depth {args.depth} batch {args.batch or 'full'} epochs {args.epochs} "
          f"probes {bool(probes)}")
    print(f"sequential {r['b_med']:.2f} s, ensemble {r['a_med']:.2f} s")
    print(f"speed-up sequential/ensemble: median {r['median']:.2f}x  [{spread(r['ratios'])}]")


if __name__ == "__main__":
    main()
