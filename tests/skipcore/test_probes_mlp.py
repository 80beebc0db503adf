"""MLP probes on tiny trained models: documented keys, JSON-ready values, model left as found."""

import json
import math

import pytest
import torch

from skipcore.data.synthetic import linear_plus_noise, sine
from skipcore.models.skip_layer import SkipLayerMLP
from skipcore.models.telescope import TelescopeMLP
from skipcore.probes import run_probe
from skipcore.probes.l1_linearity import r_squared
from skipcore.spec.data import LinearPlusNoise, Sine
from skipcore.spec.probes import DepthError, GradientFlow, L1Linearity, SkipAblation, WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train import fit, seed_everything
from skipcore.train.records import run_probe as run_recorded

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return sine(Sine(name="sine", n_train=128, n_val=32), seed=0)


@pytest.fixture(scope="module")
def trained(data):
    seed_everything(0)
    m = TelescopeMLP(in_features=1, out_features=1, depth=8, width=16)
    gf = GradientFlow(name="gradient_flow", first_k=3, every=2)
    res = fit(m, data, TrainParams(epochs=6, batch_size=32, lr=3e-3), probes=[gf], seed=0)
    return m, res.records


@pytest.fixture(scope="module")
def telescope(trained):
    return trained[0]


def _json_ready(result):
    text = json.dumps(result, allow_nan=False)  # raises on NaN/inf and on tensors
    assert json.loads(text) == result


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}, m.training


def _unchanged(m, before):
    state, training = before
    assert m.training == training
    for k, v in m.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_weight_magnitude_lists_mean_abs_per_layer(telescope, data):
    before = _state(telescope)
    r = run_probe(WeightMagnitude(name="weight_magnitude"), telescope, data)
    _json_ready(r)
    assert r["layers"] == telescope.layer_names()
    assert len(r["mean_abs"]) == 9 and all(v > 0 for v in r["mean_abs"])
    _unchanged(telescope, before)


def test_skip_ablation_keys_curves_and_restored_mask(telescope, data):
    telescope.set_skips([True] * 7 + [False])  # a non-default mask must come back as it was
    before = _state(telescope)
    r = run_probe(SkipAblation(name="skip_ablation", grid_points=50), telescope, data)
    _json_ready(r)
    _unchanged(telescope, before)
    telescope.set_skips(True)
    assert r["ks"] == [0, 2, 4, 6, 8]
    assert len(r["x"]) == 50 and len(r["full"]) == 50 and len(r["target"]) == 50
    assert r["x"][0] == pytest.approx(-2 * math.pi) and r["x"][-1] == pytest.approx(2 * math.pi)
    assert set(r["first"]) == set(r["last"]) == set(r["mse_first"]) == {"0", "2", "4", "6", "8"}
    # all k skips = the full network; k = 0 in "first" and "last" is the same (no skips)
    assert r["mse_first"]["8"] == pytest.approx(r["mse_full"]) == r["mse_last"]["8"]
    assert r["first"]["0"] == r["last"]["0"]
    assert r["constant_like"]["full"] >= 0 and set(r["constant_like"]["first"]) == set(r["first"])


def test_skip_ablation_custom_ks_are_clamped_and_deduplicated(telescope, data):
    r = run_probe(SkipAblation(name="skip_ablation", ks=[3, 1, 3, 50], grid_points=5), telescope, data)
    assert r["ks"] == [1, 3, 8]


def test_depth_error_is_the_mc_mean_squared_error_against_sine(telescope, data):
    p = DepthError(name="depth_error", n_points=500, seed=3)
    r = run_probe(p, telescope, data)
    _json_ready(r)
    assert r["n_points"] == 500 and r["mc_error"] >= 0
    assert run_probe(p, telescope, data) == r  # same seed, same points
    assert r["points"]["n"] == 500 and "uniform on the training support" in r["points"]["distribution"]
    assert "PCG64" in r["points"]["generator"]
    recorder = _InputRecorder()
    run_probe(p, recorder, data)
    x = torch.cat(recorder.seen)  # the points the probe evaluated the model on
    with torch.no_grad():
        expected = (torch.sin(x) - telescope.eval()(x)).pow(2).mean().item()
    telescope.train()
    assert r["mc_error"] == pytest.approx(expected, rel=1e-5)


class _InputRecorder(torch.nn.Module):
    """f(x) = 0 that keeps every input it is evaluated on."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return torch.zeros_like(x)


@pytest.mark.parametrize("run_seed,probe_seed", [(0, 0), (1, 1), (2, 2), (5, 0), (0, 5), (1234, 1234)])
def test_depth_error_mc_points_are_never_training_inputs(run_seed, probe_seed):
    d = sine(Sine(name="sine"), seed=run_seed)  # the fig-4 specs' data: 1024 training inputs
    model = _InputRecorder()
    r = run_probe(DepthError(name="depth_error", n_points=1000, seed=probe_seed), model, d)
    points = torch.cat(model.seen).flatten()
    train = set(d.x_train.flatten().tolist())
    assert sum(x in train for x in points.tolist()) == 0
    assert len(points) == 1000 and r["points"]["n"] == 1000
    lo, hi = d.info.x_range
    assert lo <= points.min() and points.max() <= hi and points.std() > 3  # spread over [-2pi, 2pi]


def test_gradient_flow_reports_recorded_and_final_norms(trained, data):
    telescope, records = trained
    before = _state(telescope)
    r = run_recorded(GradientFlow(name="gradient_flow", first_k=3, every=2), telescope, data, records, lambda: None)
    _json_ready(r)
    _unchanged(telescope, before)
    assert all(p.grad is None for p in telescope.parameters())
    assert len(r["first_updates"]) == 3 and r["init"] == r["first_updates"][0]
    assert len(r["final"]) == len(r["layers"]) == 9 and all(v >= 0 for v in r["final"])
    assert [e["epoch"] for e in r["every"]] == [2, 4, 6]


def test_gradient_flow_on_an_untrained_model_still_gives_final():
    d = sine(Sine(name="sine", n_train=16, n_val=8), seed=0)
    m = TelescopeMLP(in_features=1, out_features=1, depth=2, width=4)
    r = run_probe(GradientFlow(name="gradient_flow"), m, d)
    assert r["first_updates"] == [] and r["init"] == [] and len(r["final"]) == 3


def test_r_squared_is_one_for_linear_and_low_for_sine():
    x = torch.linspace(-3, 3, 200).unsqueeze(1)
    assert r_squared(x, 2 * x + 1) == pytest.approx(1.0)
    assert r_squared(x, torch.ones_like(x)) == 1.0
    assert r_squared(x, torch.sin(3 * x)) < 0.5


def test_l1_linearity_on_linear_and_nonlinear_models():
    d = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=64, n_val=32, in_features=3), seed=0)
    p = L1Linearity(name="l1_linearity", threshold=1e-3)
    lin = SkipLayerMLP(in_features=3, out_features=1, depth=1, width=0)
    r = run_probe(p, lin, d)
    _json_ready(r)
    assert r["effectively_linear"] and r["n_units"] == 0 and r["hidden_rms"] == 0

    torch.manual_seed(0)
    m = SkipLayerMLP(in_features=3, out_features=1, depth=1, width=6)
    with torch.no_grad():
        m.hidden[0].weight[:2] = 0  # units 0, 1: no input
        m.output.weight[:, :2] = 0  # ... and no output: pruned
        m.output.weight[:, 2] = 0  # unit 2: no output only: inactive, not pruned
    r = run_probe(p, m, d)
    _json_ready(r)
    u = r["units"]["hidden.0"]
    assert u["pruned"] == [True, True, False, False, False, False]
    assert u["inactive"] == [True, True, True, False, False, False]
    assert r["fraction_pruned"] == pytest.approx(2 / 6) and r["fraction_inactive"] == pytest.approx(3 / 6)
    assert 0 <= r["hidden_share"] <= 1 and r["skip_weight_norm"] > 0
    with torch.no_grad():
        m.output.weight.zero_()
    assert run_probe(p, m, d)["effectively_linear"]
