"""fit_ensemble equals K sequential fit runs (same seeds) up to float32 rounding (rtol 1e-4)."""

from __future__ import annotations

import pytest
import torch

from skipcore.spec.data import Sine
from skipcore.spec.models import PlainMLP, TelescopeMLP
from skipcore.spec.probes import WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train.ensemble import build_models, fit_ensemble, unsupported_reason
from skipcore.train.loop import fit
from skipcore.train.reporter import ListReporter

SEEDS = [0, 1, 7]


@pytest.mark.parametrize("model", [PlainMLP(family="plain_mlp", depth=3, width=8),
                                   TelescopeMLP(family="telescope_mlp", depth=3, width=8)])
@pytest.mark.parametrize("batch", [16, None])
def test_ensemble_matches_sequential(model, batch):
    torch.set_num_threads(1)
    data = Sine(name="sine", n_train=64, n_val=32)
    train = TrainParams(epochs=4, batch_size=batch, lr=1e-2)
    seq_train, seq_val = [], []
    for seed in SEEDS:
        (m,), (d,) = build_models(model, data, [seed])
        rep = ListReporter()
        fit(m, d, train, reporter=rep, seed=seed)
        seq_train.append(rep.history("train_loss"))
        seq_val.append(rep.history("val_loss"))
    models, datasets = build_models(model, data, SEEDS)
    res = fit_ensemble(models, datasets, train, seeds=SEEDS)
    for k in range(len(SEEDS)):
        torch.testing.assert_close(torch.tensor(res.train_loss[k]), torch.tensor(seq_train[k]), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(torch.tensor(res.val_loss[k]), torch.tensor(seq_val[k]), rtol=1e-4, atol=1e-6)
    assert len({tuple(h) for h in res.train_loss}) == len(SEEDS)  # seeds really differ


def test_fallback_reasons():
    data = Sine(name="sine", n_train=16, n_val=8)
    models, datasets = build_models(TelescopeMLP(family="telescope_mlp", depth=2, width=4), data, [0, 1])
    assert unsupported_reason(models, datasets, TrainParams()) is None
    assert "probes" in unsupported_reason(models, datasets, TrainParams(),
                                          [WeightMagnitude(name="weight_magnitude")])
    assert "skip*" in unsupported_reason(models, datasets, TrainParams.model_validate({"skip_star": {}}))
