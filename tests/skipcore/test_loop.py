"""The training loop: determinism, bit-identical resume, NaN stop, skip* phases, reporter hooks."""


import pytest
import torch

from skipcore.data.synthetic import linear_plus_noise, sine
from skipcore.models.dense_skip import DenseSkipMLP
from skipcore.models.telescope import TelescopeMLP
from skipcore.spec.data import LinearPlusNoise, Sine
from skipcore.spec.probes import GradientFlow, WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train import ListReporter, fit, seed_everything
from skipcore.train import checkpoint as ckpt
from skipcore.train.device import pick_device

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return sine(Sine(name="sine", n_train=96, n_val=32, noise=0.1), seed=0)


def _model(seed=0, **kw):
    seed_everything(seed)
    return TelescopeMLP(in_features=1, out_features=1, depth=kw.pop("depth", 3), width=kw.pop("width", 8), **kw)


def _train(**kw):
    base = {"epochs": 6, "batch_size": 16, "lr": 3e-3, "checkpoint_every": 3}
    return TrainParams(**{**base, **kw})


def test_same_seed_gives_identical_loss_history(data):
    runs = []
    for _ in range(2):
        rep = ListReporter()
        fit(_model(), data, _train(epochs=3), reporter=rep, seed=5)
        runs.append(rep.history("train_loss") + rep.history("val_loss"))
    assert runs[0] == runs[1]


def test_resume_from_checkpoint_is_bit_identical(data):
    straight = ListReporter()
    m1 = _model()
    fit(m1, data, _train(optimizer="adamw", weight_decay=0.01, lr_schedule="cosine"), reporter=straight, seed=3)

    first = ListReporter(stop_after=3)
    res = fit(_model(), data, _train(optimizer="adamw", weight_decay=0.01, lr_schedule="cosine"), reporter=first, seed=3)
    assert res.epochs_run == 3 and res.stopped
    state = ckpt.load(first.checkpoints[3])
    second = ListReporter()
    m2 = _model(seed=99)  # a differently initialised model: everything must come from the checkpoint
    res2 = fit(m2, data, _train(optimizer="adamw", weight_decay=0.01, lr_schedule="cosine"), reporter=second, seed=3, resume=state)
    assert res2.epochs_run == 6 and res2.stopped is None
    assert first.history("train_loss") + second.history("train_loss") == straight.history("train_loss")
    assert first.history("val_loss") + second.history("val_loss") == straight.history("val_loss")
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_resume_from_the_last_epoch_trains_nothing_and_keeps_the_summary_and_records(data):
    """A run killed during its probes resumes from the last epoch's checkpoint: no epoch trains,
    yet the summary (final numbers, best val loss, the whole training time) and the gradient
    records the probes read are those of the finished run."""
    gf = GradientFlow(name="gradient_flow", first_k=4, every=2)
    done = ListReporter()
    m1 = _model()
    res = fit(m1, data, _train(), probes=[gf], reporter=done, seed=3)
    state = ckpt.load(done.checkpoints[6])
    again = ListReporter()
    m2 = _model(seed=99)
    res2 = fit(m2, data, _train(), probes=[gf], reporter=again, seed=3, resume=state)
    assert res2.epochs_run == 6 and res2.stopped is None
    assert again.history("train_loss") == [] and again.checkpoints == {}  # nothing trained, nothing saved
    assert {k: v for k, v in res2.summary.items() if k != "time_s"} == \
        {k: v for k, v in res.summary.items() if k != "time_s"}
    assert {"train_loss", "val_loss", "best_val_loss"} <= set(res2.summary)
    assert res2.summary["time_s"] >= state["loop"]["elapsed_s"] > 0
    assert res2.records == res.records  # what the worker hands to the probes (FitResult.records)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_checkpoint_holds_rng_states_and_round_trips(data):
    rep = ListReporter()
    fit(_model(), data, _train(epochs=3), reporter=rep, seed=1)
    state = ckpt.load(rep.checkpoints[3])
    assert state["epoch"] == 3 and set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert "generator" in state and "optimizer" in state
    assert ckpt.load(ckpt.save(state))["epoch"] == 3


def test_nan_loss_stops_with_reason_naming_the_epoch(data):
    bad = sine(Sine(name="sine", n_train=32, n_val=8), seed=0)
    bad.y_train[5] = float("inf")
    res = fit(_model(), bad, _train(epochs=4), seed=0)
    assert res.stopped is not None and "at epoch 1" in res.stopped
    assert res.stopped.startswith("loss became")
    assert res.epochs_run == 0


def test_step_time_counts_the_training_steps_and_not_the_validation_pass():
    """`step_time` is the training steps alone; `epoch_time` adds the validation pass. With a
    validation split 64x the training set, the validation forward dominates the epoch, so the steps'
    share of the epoch must be small (a `step_time` that included the validation would be ~1)."""
    big_val = sine(Sine(name="sine", n_train=32, n_val=32 * 64), seed=0)
    rep = ListReporter()
    fit(_model(depth=8, width=64), big_val, _train(epochs=4, batch_size=32, val_every=1), reporter=rep,
        seed=0)
    step, whole = rep.history("step_time"), rep.history("epoch_time")
    assert len(step) == len(whole) == 4 and all(s > 0 for s in step)
    assert all(s < w for s, w in zip(step, whole))
    assert sum(step) / sum(whole) < 0.5, (step, whole)


def test_validation_every_k_epochs_changes_no_training_number(data):
    """`val_every: 3` validates at epochs 3, 6 and 7 (the last), and nothing else differs:
    the training losses, the final weights and the final validation values equal an every-epoch run."""
    reps, models, results = [], [], []
    for val_every in (1, 3):
        rep, m = ListReporter(), _model()
        results.append(fit(m, data, _train(epochs=7, val_every=val_every), reporter=rep, seed=4))
        reps.append(rep)
        models.append(m)
    every, sparse = reps
    assert sparse.history("train_loss") == every.history("train_loss")
    assert [e for e, sc, _ in sparse.records if "val_loss" in sc] == [3, 6, 7]
    assert [e for e, sc, _ in every.records if "val_loss" in sc] == list(range(1, 8))
    for (k, a), (_, b) in zip(models[0].state_dict().items(), models[1].state_dict().items()):
        assert torch.equal(a, b), k
    drop = ("time_s", "val_every", "best_val_loss")
    assert {k: v for k, v in results[1].summary.items() if k not in drop} == \
        {k: v for k, v in results[0].summary.items() if k not in drop}
    assert (results[0].summary["val_every"], results[1].summary["val_every"]) == (1, 3)
    # the best val loss is the best of the validated epochs
    validated = [sc["val_loss"] for e, sc, _ in every.records if e in (3, 6, 7)]
    assert results[1].summary["best_val_loss"] == min(validated)


@pytest.mark.parametrize("epochs,steps,val_every,star,want", [
    (100, 32, "auto", False, 1), (101, 32, "auto", False, 2), (300, 32, "auto", False, 3),
    (2000, 32, "auto", False, 20), (100, 2, "auto", False, 1), (300, 2, "auto", False, 3),
    (30, 1, "auto", False, 10), (300, 1, "auto", False, 10), (5, 1, "auto", False, 10),
    (3000, 1, "auto", False, 30), (2000, 32, "auto", True, 1), (300, 1, "auto", True, 1),
    (2000, 32, 7, False, 7), (300, 1, 1, False, 1), (2000, 1, 1, True, 1)])
def test_val_every_auto_rule(epochs, steps, val_every, star, want):
    """`auto`: at most about 100 passes a run, and at least every 10th epoch at one step an epoch."""
    extra = {"skip_star": {"rule": "epochs", "phase1_epochs": 5}} if star else {}
    t = TrainParams(epochs=epochs, val_every=val_every, **extra)
    assert t.val_interval(steps) == want
    assert t.validates_at(epochs, steps) and t.validates_at(min(want, epochs), steps)
    assert want == 1 or not t.validates_at(1, steps)


def test_a_full_batch_run_validates_every_tenth_epoch_and_says_so(data):
    """One step an epoch (full batch): `auto` validates every 10th epoch and the last; the training
    is the same as validating every epoch."""
    reps, results, models = [], [], []
    for val_every in ("auto", 1):
        rep, m = ListReporter(), _model()
        results.append(fit(m, data, _train(epochs=25, batch_size=None, val_every=val_every), reporter=rep, seed=2))
        reps.append(rep)
        models.append(m)
    auto, every = reps
    assert [e for e, sc, _ in auto.records if "val_loss" in sc] == [10, 20, 25]
    assert (results[0].summary["val_every"], results[1].summary["val_every"]) == (10, 1)
    assert auto.history("train_loss") == every.history("train_loss")
    assert auto.history("val_loss") == [sc["val_loss"] for e, sc, _ in every.records if e in (10, 20, 25)]
    for (k, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), k


def test_val_every_above_one_is_refused_with_skip_star():
    with pytest.raises(ValueError, match="val_every .*skip_star"):
        TrainParams(epochs=50, val_every=5, skip_star={"rule": "patience"})


def test_should_stop_reason_stops_the_loop_and_checkpoints(data):
    rep = ListReporter(stop_after=2)
    res = fit(_model(), data, _train(epochs=10, checkpoint_every=5), reporter=rep, seed=0)
    assert res.epochs_run == 2 and res.stopped == "stop requested after 2 epochs"
    assert 2 in rep.checkpoints


def test_a_stop_is_read_before_the_checkpoint_of_its_epoch(data):
    """A reporter that thins its checkpoints (the worker keeps a time floor between them) learns
    that the run stops before it is asked for that epoch's checkpoint, on a checkpoint epoch too,
    so it can store the stopping run's state."""

    class Thinning(ListReporter):
        def __init__(self) -> None:
            super().__init__(stop_after=4)
            self.calls: list[tuple[str, int]] = []

        def should_stop(self):
            reason = super().should_stop()
            self.calls.append(("stop" if reason else "go", self.records[-1][0]))
            return reason

        def checkpoint(self, epoch: int, state: dict) -> None:
            self.calls.append(("checkpoint", epoch))
            if self.calls[-2] == ("stop", epoch):  # like the worker: a stopping run's is stored
                super().checkpoint(epoch, state)

    rep = Thinning()
    res = fit(_model(), data, _train(epochs=10, checkpoint_every=2), reporter=rep, seed=0)
    assert res.epochs_run == 4 and res.stopped
    assert rep.calls[-2:] == [("stop", 4), ("checkpoint", 4)]
    assert list(rep.checkpoints) == [4]


def test_metrics_scalars_and_layer_stats_per_epoch(data):
    rep = ListReporter()
    wm = WeightMagnitude(name="weight_magnitude", every=2)
    res = fit(_model(), data, _train(epochs=4, log_every=3), probes=[wm], reporter=rep, seed=0)
    epochs = [e for e, _, _ in rep.records]
    assert epochs == [0, 1, 2, 3, 4]
    for e, scalars, _ in rep.records[1:]:
        assert {"train_loss", "val_loss", "epoch_time", "lr"} <= set(scalars)
    logged = rep.layer_history("weight_mean_abs")
    assert sorted(logged) == [0, 2, 3, 4]  # epoch 0 (init), every=2, log_every=3, last
    assert all(len(v) == 4 for v in logged.values())  # 3 hidden + output
    assert sorted(rep.layer_history("grad_norm")) == [2, 3, 4]
    assert {"train_loss", "val_loss", "best_val_loss", "time_s"} <= set(res.summary)
    assert sorted(rep.checkpoints) == [3, 4]


def test_training_reduces_the_loss(data):
    rep = ListReporter()
    fit(_model(width=16), data, _train(epochs=15, lr=1e-2), reporter=rep, seed=0)
    hist = rep.history("val_loss")
    assert hist[-1] < 0.5 * hist[0]


def test_gradient_flow_records_first_updates(data):
    gf = GradientFlow(name="gradient_flow", first_k=4, every=2)
    m = _model()
    res = fit(m, data, _train(epochs=2, batch_size=32), probes=[gf], seed=0)
    assert len(res.records["first_updates"]) == 4
    assert all(len(r) == 4 for r in res.records["first_updates"])
    assert [e["epoch"] for e in res.records["every"]] == [2]
    assert not hasattr(m, "_skipcore_records")  # records travel in FitResult.records, not on the model


def test_skip_star_switches_phase_and_turns_skips_on():
    d = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=64, n_val=32, in_features=3, nonlinear=1.0), seed=0)
    seed_everything(0)
    m = DenseSkipMLP(in_features=3, out_features=1, widths=[8, 8])
    rep = ListReporter()
    train = _train(epochs=5, skip_star={"rule": "epochs", "phase1_epochs": 2})
    fit(m, d, train, reporter=rep, seed=0)
    assert rep.history("phase") == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert bool(m.skip_mask.all())


def test_skip_star_patience_rule_fires_on_a_plateau():
    d = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=32, n_val=16, in_features=2), seed=0)
    seed_everything(0)
    m = DenseSkipMLP(in_features=2, out_features=1, widths=[4, 4])
    rep = ListReporter()
    # min_delta huge: no epoch counts as an improvement after the first, so patience 2 ends phase 1 at epoch 3
    train = _train(epochs=6, lr=1e-3, skip_star={"rule": "patience", "patience": 2, "min_delta": 1e6})
    fit(m, d, train, reporter=rep, seed=0)
    assert rep.history("phase") == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]


def test_l1_penalty_and_full_batch_sgd_shrink_weights(data):
    def final_mean_abs(l1):
        m = _model()
        fit(m, data, _train(epochs=20, batch_size=None, optimizer="sgd", lr=1e-2, l1=l1, grad_clip=1.0), seed=0)
        return sum(p.abs().mean().item() for n, p in m.named_parameters() if n.endswith("weight"))

    assert final_mean_abs(0.05) < final_mean_abs(0.0)


def test_classification_records_accuracy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).long()
    from skipcore.data.base import DataInfo, Dataset
    from skipcore.models.mlp import PlainMLP

    d = Dataset(DataInfo("classification", (4,), 2), x[:48], y[:48], x[48:], y[48:])
    seed_everything(0)
    rep = ListReporter()
    res = fit(PlainMLP(in_features=4, out_features=2, depth=1, width=8), d, _train(epochs=3), reporter=rep, seed=0)
    assert 0.0 <= rep.history("val_acc")[-1] <= 1.0 and "train_acc" in rep.records[-1][1]
    assert "val_acc" in res.summary


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="tpu"):
        pick_device("tpu")


def test_a_test_split_is_evaluated_once_after_training_and_decides_nothing():
    from skipcore.data.base import DataInfo, Dataset
    from skipcore.models.mlp import PlainMLP

    g = torch.Generator().manual_seed(1)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    plain = Dataset(DataInfo("classification", (4,), 2), x[:48], y[:48], x[48:72], y[48:72])
    with_test = Dataset(DataInfo("classification", (4,), 2), x[:48], y[:48], x[48:72], y[48:72])
    with_test.x_test, with_test.y_test = x[72:], y[72:]
    train = _train(epochs=4)
    results, reps, models = [], [], []
    for d in (plain, with_test):
        seed_everything(0)
        m = PlainMLP(in_features=4, out_features=2, depth=1, width=8)
        rep = ListReporter()
        results.append(fit(m, d, train, reporter=rep, seed=0))
        reps.append(rep)
        models.append(m)
    a, b = results
    assert not {"test_loss", "test_acc"} & set(a.summary)
    from skipcore.train.loop import evaluate

    want = evaluate(models[1], x[72:], y[72:], "classification", 2)
    assert b.summary["test_loss"] == want["val_loss"] and b.summary["test_acc"] == want["val_acc"]
    # the same training and the same validation-based numbers: the test split changed nothing
    assert [s["val_loss"] for _, s, _ in reps[0].records] == [s["val_loss"] for _, s, _ in reps[1].records]
    assert {k: v for k, v in b.summary.items() if not k.startswith("test_") and k != "time_s"} == \
        {k: v for k, v in a.summary.items() if k != "time_s"}
    assert not any(k.startswith("test_") for _, s, _ in reps[1].records for k in s)
