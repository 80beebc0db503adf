"""fit_ensemble (stacked weights, one batched pass) equals K sequential `fit` runs with the same seeds.

Tolerance: rtol 1e-4, atol 1e-6 on losses, layer statistics and final weights (float32: batched
matmuls sum in another order than single ones, so results are close, not bit-identical).
"""

from __future__ import annotations

import pytest
import torch

from skipcore.data.synthetic import sine
from skipcore.spec.data import Sine
from skipcore.spec.models import (DenseSkipMLP, HighwayMLP, PlainMLP, ResNetMLP, SkipLayerMLP,
                                  TelescopeMLP)
from skipcore.spec.probes import GradientFlow, WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train import checkpoint as ckpt
from skipcore.train.ensemble import build_models, fit_ensemble, unsupported_reason
from skipcore.train.loop import evaluate, fit
from skipcore.train.reporter import ListReporter

SEEDS = [0, 1, 7]
TOL = dict(rtol=1e-4, atol=1e-6)
DATA = Sine(name="sine", n_train=64, n_val=32)
FAMILIES = {
    "plain": PlainMLP(family="plain_mlp", depth=3, width=8),
    "telescope": TelescopeMLP(family="telescope_mlp", depth=3, width=8),
    "resnet": ResNetMLP(family="resnet_mlp", depth=2, width=8),
    "resnet_activation_then_add": ResNetMLP(family="resnet_mlp", block="activation_then_add", depth=3, width=8,
                                            init="default"),
    "highway": HighwayMLP(family="highway_mlp", depth=2, width=8),
    "dense_skip": DenseSkipMLP(family="dense_skip_mlp", widths=[8, 6, 5]),
    "skip_layer": SkipLayerMLP(family="skip_layer_mlp", depth=2, width=6),
    "skip_layer_linear": SkipLayerMLP(family="skip_layer_mlp", width=0),
}
PROBES = [WeightMagnitude(name="weight_magnitude", every=2), GradientFlow(name="gradient_flow", first_k=3, every=2)]


def sequential(model_params, train, probes=(), seeds=SEEDS, stop_after=None):
    out = []
    for seed in seeds:
        (m,), (d,) = build_models(model_params, DATA, [seed])
        rep = ListReporter(stop_after=stop_after.get(seed) if stop_after else None)
        res = fit(m, d, train, probes=probes, reporter=rep, seed=seed)
        out.append((m, rep, res))
    return out


def close(a, b):
    torch.testing.assert_close(torch.tensor(a), torch.tensor(b), **TOL)


def assert_same(seq, models, reps, results):
    for k, (m, rep, res) in enumerate(seq):
        got = reps[k]
        assert [e for e, _, _ in got.records] == [e for e, _, _ in rep.records]
        for key in ("train_loss", "val_loss"):
            close(got.history(key), rep.history(key))
        for key in ("weight_mean_abs", "grad_norm"):
            want, have = rep.layer_history(key), got.layer_history(key)
            assert sorted(have) == sorted(want), key
            for e in want:
                close(have[e], want[e])
        for (n, p), (_, q) in zip(m.named_parameters(), models[k].named_parameters()):
            torch.testing.assert_close(q, p, **TOL, msg=n)
        assert results[k].epochs_run == res.epochs_run and results[k].stopped == res.stopped
        for key in ("first_updates", "every"):
            assert len(results[k].records[key]) == len(res.records[key])
        for a, b in zip(results[k].records["first_updates"], res.records["first_updates"]):
            close(a, b)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_matches_sequential_with_layer_probes(family):
    torch.set_num_threads(1)
    train = TrainParams(epochs=4, batch_size=16, lr=1e-2)
    seq = sequential(FAMILIES[family], train, PROBES)
    models, datasets = build_models(FAMILIES[family], DATA, SEEDS)
    reps = [ListReporter() for _ in SEEDS]
    res = fit_ensemble(models, datasets, train, seeds=SEEDS, probes=PROBES, reporters=reps)
    assert_same(seq, models, reps, res.results)
    assert len({tuple(h) for h in res.train_loss}) == len(SEEDS)  # seeds really differ


@pytest.mark.parametrize("batch,extra", [(None, {}), (16, {"optimizer": "sgd", "grad_clip": 0.05, "l1": 1e-3}),
                                         (16, {"optimizer": "adamw", "weight_decay": 0.1, "lr_schedule": "cosine"}),
                                         (16, {"val_every": 3})])
def test_options_match_sequential(batch, extra):
    torch.set_num_threads(1)
    train = TrainParams(epochs=4, batch_size=batch, lr=1e-2, **extra)
    model = FAMILIES["telescope"]
    seq = sequential(model, train)
    models, datasets = build_models(model, DATA, SEEDS)
    reps = [ListReporter() for _ in SEEDS]
    res = fit_ensemble(models, datasets, train, seeds=SEEDS, reporters=reps)
    assert_same(seq, models, reps, res.results)


def test_a_stopped_seed_leaves_the_group_and_the_others_go_on():
    torch.set_num_threads(1)
    train = TrainParams(epochs=5, batch_size=16, lr=1e-2, checkpoint_every=10)
    stop = {1: 2}  # seed 1's reporter asks to stop after epoch 2 (a cancel)
    seq = sequential(FAMILIES["plain"], train, PROBES, stop_after=stop)
    models, datasets = build_models(FAMILIES["plain"], DATA, SEEDS)
    reps = [ListReporter(stop_after=stop.get(s)) for s in SEEDS]
    res = fit_ensemble(models, datasets, train, seeds=SEEDS, probes=PROBES, reporters=reps)
    assert res.results[1].epochs_run == 2 and res.results[1].stopped.startswith("stop requested")
    assert [r.epochs_run for r in res.results] == [5, 2, 5]
    assert sorted(reps[1].checkpoints) == [2]  # saved when it stopped, as fit does
    assert_same(seq, models, reps, res.results)


def test_a_diverging_seed_fails_alone():
    torch.set_num_threads(1)
    train = TrainParams(epochs=3, batch_size=16, lr=1e-2)
    models, datasets = build_models(FAMILIES["plain"], DATA, SEEDS)
    with torch.no_grad():
        models[2].output.weight.fill_(float("nan"))
    reps = [ListReporter() for _ in SEEDS]
    res = fit_ensemble(models, datasets, train, seeds=SEEDS, reporters=reps)
    assert res.results[2].stopped == "loss became nan at epoch 1" and res.results[2].epochs_run == 0
    assert reps[2].records == []
    seq = sequential(FAMILIES["plain"], train, seeds=SEEDS[:2])
    assert_same(seq, models[:2], reps[:2], res.results[:2])


def test_checkpoint_of_one_seed_resumes_with_fit():
    """A seed's checkpoint (slice of the stacked state) is fit's format: resume 2 -> 4 == 4 straight."""
    torch.set_num_threads(1)
    train = TrainParams(epochs=4, batch_size=16, lr=1e-2, checkpoint_every=2)
    models, datasets = build_models(FAMILIES["resnet"], DATA, SEEDS)
    reps = [ListReporter() for _ in SEEDS]
    fit_ensemble(models, datasets, train, seeds=SEEDS, probes=PROBES, reporters=reps)
    seq = sequential(FAMILIES["resnet"], train, PROBES)
    for k, seed in enumerate(SEEDS):
        (m,), (d,) = build_models(FAMILIES["resnet"], DATA, [seed])
        rep = ListReporter()
        res = fit(m, d, train, probes=PROBES, reporter=rep, seed=seed, resume=ckpt.load(reps[k].checkpoints[2]))
        assert res.epochs_run == 4
        close(rep.history("train_loss"), seq[k][1].history("train_loss")[2:])
        for p, q in zip(m.parameters(), seq[k][0].parameters()):
            torch.testing.assert_close(p, q, **TOL)


def test_fallback_reasons():
    data = Sine(name="sine", n_train=16, n_val=8)
    models, datasets = build_models(FAMILIES["telescope"], data, [0, 1])
    assert unsupported_reason(models, datasets, TrainParams(), PROBES) is None
    assert "skip*" in unsupported_reason(models, datasets, TrainParams.model_validate({"skip_star": {}}))
    sd = ResNetMLP(family="resnet_mlp", depth=2, width=4, stochastic_depth=0.5)
    m2, d2 = build_models(sd, data, [0, 1])
    assert "stochastic depth" in unsupported_reason(m2, d2, TrainParams())
    wide, _ = build_models(TelescopeMLP(family="telescope_mlp", depth=2, width=6), data, [0])
    assert "shapes differ" in unsupported_reason([models[0], wide[0]], datasets, TrainParams())
    other = sine(Sine(name="sine", n_train=20, n_val=8), seed=0)
    assert "differ in size" in unsupported_reason(models, [datasets[0], other], TrainParams())


def test_a_test_split_is_evaluated_once_per_seed_after_training_as_fit_does():
    torch.set_num_threads(1)
    train = TrainParams(epochs=2, batch_size=16, lr=1e-2)
    models, datasets = build_models(FAMILIES["plain"], DATA, SEEDS)
    for d in datasets:
        d.x_test, d.y_test = d.x_val[:8] * 0.5, d.y_val[:8]
    res = fit_ensemble(models, datasets, train, seeds=SEEDS)
    for m, d, r in zip(models, datasets, res.results):
        want = evaluate(m, d.x_test, d.y_test, "regression", 1)
        torch.testing.assert_close(r.summary["test_loss"], want["val_loss"], **TOL)
