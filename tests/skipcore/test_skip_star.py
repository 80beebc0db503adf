"""skip* (seed 001): the switch keeps the vanilla function (skip weights start at zero), every
metric point says its phase, and the random-start variant stays available under its own name."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from skipcore.data.synthetic import linear_plus_noise
from skipcore.models.dense_skip import DenseSkipMLP
from skipcore.models.telescope import TelescopeMLP
from skipcore.spec import ExperimentSpec
from skipcore.spec.data import LinearPlusNoise
from skipcore.spec.probes import WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train import ListReporter, fit, seed_everything

torch.set_num_threads(1)
X = torch.randn(64, 3, generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def data():
    spec = LinearPlusNoise(name="linear_plus_noise", n_train=64, n_val=32, in_features=3, nonlinear=1.0)
    return linear_plus_noise(spec, seed=0)


class SwitchWatch(ListReporter):
    """Records the model's output on X when phase 1's last epoch is reported (skips still off) and
    when its checkpoint is written (the switch has happened)."""

    def __init__(self, model, epoch):
        super().__init__()
        self.model, self.epoch, self.before, self.after = model, epoch, None, None

    def metrics(self, epoch, scalars, layers):
        super().metrics(epoch, scalars, layers)
        if epoch == self.epoch:
            assert not bool(self.model.skip_mask.any())
            self.before = self.model(X).detach()

    def checkpoint(self, epoch, state):
        super().checkpoint(epoch, state)
        if epoch == self.epoch:
            assert bool(self.model.skip_mask.all())
            self.after = self.model(X).detach()


def _run(data, **star):
    seed_everything(0)
    m = DenseSkipMLP(in_features=3, out_features=1, widths=[8, 8])
    rep = SwitchWatch(m, 2)
    train = TrainParams(epochs=4, batch_size=16, lr=3e-3, weight_decay=1e-3, optimizer="adamw",
                        checkpoint_every=1, skip_star={"rule": "epochs", "phase1_epochs": 2, **star})
    fit(m, data, train, probes=[WeightMagnitude(name="weight_magnitude", every=1)], reporter=rep, seed=0)
    return m, rep


def test_the_network_computes_the_same_function_right_after_the_switch(data):
    m, rep = _run(data)
    assert torch.equal(rep.after, rep.before)
    # the skips then train from zero: they are not stuck there
    assert all(p.abs().sum() > 0 for p in m.skips.parameters())


def test_skips_started_as_initialised_change_the_function_at_the_switch(data):
    _, rep = _run(data, skip_start="as_initialised")
    assert (rep.after - rep.before).abs().max() > 1e-3


def test_every_metric_point_carries_its_phase(data):
    _, rep = _run(data)
    assert [(e, s.get("phase")) for e, s, _ in rep.records] == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)]


def test_zero_start_needs_skip_weights():
    seed_everything(0)
    m = TelescopeMLP(in_features=3, out_features=1, depth=2, width=4)
    d = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=16, n_val=8, in_features=3), seed=0)
    with pytest.raises(ValueError, match="skip_start 'as_initialised'"):
        fit(m, d, TrainParams(epochs=2, skip_star={"rule": "epochs", "phase1_epochs": 1}), seed=0)
    spec = {"name": "t", "model": {"family": "telescope_mlp", "depth": 2, "width": 4}, "data": {"name": "sine"},
            "train": {"epochs": 3, "skip_star": {"rule": "epochs", "phase1_epochs": 1}}}
    with pytest.raises(ValidationError, match="telescope_mlp's skips are identities"):
        ExperimentSpec.model_validate(spec)
    spec["train"]["skip_star"]["skip_start"] = "as_initialised"
    ExperimentSpec.model_validate(spec)


def test_epochs_count_both_phases(data):
    _, rep = _run(data)
    assert len(rep.history("train_loss")) == 4  # train.epochs = phase 1 (2) + phase 2 (2)
