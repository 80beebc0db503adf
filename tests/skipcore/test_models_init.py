"""The init schemes are what they say: PyTorch's default, He, an identity init that keeps every
hidden unit live, and dense_skip_mlp's paired init (skips on vs off)."""

import math

import pytest
import torch

from skipcore.models.dense_skip import DenseSkipMLP
from skipcore.models.highway import HighwayMLP
from skipcore.models.mlp import PlainMLP
from skipcore.models.resnet_mlp import ActThenAddMLP, ResNetMLP
from skipcore.models.skip_layer import SkipLayerMLP
from skipcore.models.telescope import TelescopeMLP

torch.set_num_threads(1)


def test_default_init_is_nn_linears_uniform_with_bound_one_over_sqrt_fan_in_and_he_is_kaiming_normal():
    torch.manual_seed(0)
    fan = 512
    bound = 1 / math.sqrt(fan)
    default = PlainMLP(in_features=1, out_features=1, depth=2, width=fan, init="default").hidden[1]
    w, b = default.weight, default.bias
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.999 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)  # uniform, not normal
    assert b.abs().max().item() <= bound and b.abs().max().item() > 0.99 * bound
    he = PlainMLP(in_features=1, out_features=1, depth=2, width=fan, init="he").hidden[1]
    sd = math.sqrt(2 / fan)
    assert he.weight.std().item() == pytest.approx(sd, rel=0.01)
    beyond = (he.weight.abs() > 2 * sd).float().mean().item()
    assert beyond == pytest.approx(0.0455, abs=0.003)  # normal tails: P(|z| > 2) = 4.55%
    assert torch.all(he.bias == 0)


def _sine_batch(n: int = 512):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, generator=g) * 4 * math.pi - 2 * math.pi
    return x, torch.sin(x)


# (model, names of the layers that read the input or write the output: He under identity init)
IDENTITY_NETS = {
    "plain_mlp": (lambda: PlainMLP(in_features=1, out_features=1, depth=6, width=16, init="identity"),
                  {"hidden.0", "output"}),
    "telescope_mlp": (lambda: TelescopeMLP(in_features=1, out_features=1, depth=6, width=16, init="identity"),
                      {"hidden.0", "output"}),
    "resnet_mlp": (lambda: ResNetMLP(in_features=1, out_features=1, depth=3, width=16, init="identity"),
                   {"input", "output"}),
    "resnet_mlp activation_then_add": (
        lambda: ActThenAddMLP(in_features=1, out_features=1, depth=6, width=16, init="identity"), {"input", "output"}),
    "highway_mlp": (lambda: HighwayMLP(in_features=1, out_features=1, depth=3, width=16, init="identity"),
                    {"input", "output"}),
    "skip_layer_mlp": (lambda: SkipLayerMLP(in_features=1, out_features=1, depth=4, width=16, init="identity"),
                       {"hidden.0", "output", "direct"}),
    "dense_skip_mlp": (lambda: DenseSkipMLP(in_features=1, out_features=1, widths=[16, 16, 16], init="identity"),
                       {"main.0", "main.3"}),
    "dense_skip_mlp no skips": (
        lambda: DenseSkipMLP(in_features=1, out_features=1, widths=[16, 16, 16], skips=False, init="identity"),
        {"main.0", "main.3"}),
}


@pytest.mark.parametrize("family", list(IDENTITY_NETS))
def test_identity_init_every_hidden_unit_of_every_hidden_layer_receives_a_gradient_on_sine_data(family):
    torch.manual_seed(2)
    make, io = IDENTITY_NETS[family]
    m = make()
    x, y = _sine_batch()
    torch.nn.functional.mse_loss(m(x), y).backward()
    for name in m.layer_names():
        if name in ("output", "main.3") or name.startswith("skips."):
            continue  # the output layer's rows are per output, not per hidden unit
        rows = m.get_submodule(name).weight.grad.abs().sum(dim=1)
        assert torch.all(rows > 0), f"{name}: {int((rows == 0).sum())} of {rows.numel()} units get no gradient"


@pytest.mark.parametrize("family", list(IDENTITY_NETS))
def test_identity_init_is_the_identity_on_every_hidden_to_hidden_layer_and_he_on_input_and_output(family):
    torch.manual_seed(3)
    make, io = IDENTITY_NETS[family]
    m = make()
    for name in m.layer_names():
        layer = m.get_submodule(name)
        if layer.bias is not None:
            assert torch.all(layer.bias == 0) or name.endswith("gate.linear"), name  # highway: b_T = gate_bias
        if name.startswith("skips."):
            assert torch.all(layer.weight == 0), name  # dense_skip_mlp: skips start at zero
        elif name in io:
            assert torch.count_nonzero(layer.weight) == layer.weight.numel(), name
        else:
            assert torch.equal(layer.weight, torch.eye(16)), name


@pytest.mark.parametrize("cls", [PlainMLP, TelescopeMLP])
def test_identity_init_each_hidden_layer_realises_the_identity_so_every_layer_receives_the_same_input(cls):
    torch.manual_seed(4)
    m = cls(in_features=1, out_features=1, depth=8, width=16, init="identity")
    x, _ = _sine_batch(64)
    h = torch.relu(m.hidden[0](x))
    assert (h > 0).any(dim=0).all()  # every unit of the first layer is live somewhere on the data
    for layer in list(m.hidden)[1:]:
        assert torch.equal(torch.relu(layer(h)), h)


def test_identity_init_dense_skip_starts_as_the_vanilla_identity_chain_in_both_arms():
    torch.manual_seed(5)
    on = DenseSkipMLP(in_features=1, out_features=1, widths=[16, 16, 16], init="identity")
    torch.manual_seed(5)
    off = DenseSkipMLP(in_features=1, out_features=1, widths=[16, 16, 16], skips=False, init="identity")
    x, _ = _sine_batch(64)
    assert torch.equal(on(x), off(x))


def _pair(init: str, seed: int, **kw):
    widths = kw.pop("widths", [6, 5, 7])
    torch.manual_seed(seed)
    on = DenseSkipMLP(in_features=4, out_features=3, widths=widths, init=init, **kw)
    after_on = torch.rand(3)
    torch.manual_seed(seed)
    off = DenseSkipMLP(in_features=4, out_features=3, widths=widths, skips=False, init=init, **kw)
    after_off = torch.rand(3)
    return on, off, after_on, after_off


@pytest.mark.parametrize("init", ["he", "default"])
def test_dense_skip_same_seed_main_weights_are_the_same_draws_with_or_without_skips_scaled_for_total_fan_in(init):
    on, off, after_on, after_off = _pair(init, 7)
    assert torch.equal(after_on, after_off)  # building the skips consumed nothing of the global stream
    for j in range(1, len(on.sizes)):
        scale = math.sqrt(on.sizes[j - 1] / on.fan_in(j))
        assert on.fan_in(j) == sum(on.sizes[:j]) and off.fan_in(j) == on.sizes[j - 1]
        for p_on, p_off in ((on.main[j - 1].weight, off.main[j - 1].weight), (on.main[j - 1].bias, off.main[j - 1].bias)):
            assert torch.allclose(p_on, p_off * scale, rtol=1e-6, atol=0), (j, init)


@pytest.mark.parametrize("init", ["he", "default"])
def test_dense_skip_init_fan_in_main_gives_exactly_the_vanilla_main_weights_with_skips_built(init):
    on, off, _, _ = _pair(init, 7, init_fan_in="main")
    assert torch.equal(on.state_dict()["main.1.weight"], off.state_dict()["main.1.weight"])
    for a, b in zip(on.main.parameters(), off.main.parameters()):
        assert torch.equal(a, b)
    x = torch.randn(5, 4)
    on.set_skips(False)
    assert torch.equal(on(x), off(x))


def test_dense_skip_every_weight_into_a_layer_is_drawn_for_its_total_fan_in():
    torch.manual_seed(8)
    m = DenseSkipMLP(in_features=64, out_features=64, widths=[64, 64, 64], init="default")
    for j in range(1, len(m.sizes)):
        bound = 1 / math.sqrt(m.fan_in(j))
        ws = [m.main[j - 1].weight] + [m.skips[f"{i}_{j}"].weight for i in range(j - 1)]
        for w in ws:
            assert w.abs().max().item() <= bound and w.abs().max().item() > 0.99 * bound


def test_dense_skip_skip_weights_come_from_the_run_seed_alone():
    a, _, _, _ = _pair("he", 9)
    b, _, _, _ = _pair("he", 9)
    c, _, _, _ = _pair("he", 10)
    for key in a.skips:
        assert torch.equal(a.skips[key].weight, b.skips[key].weight)
        assert not torch.equal(a.skips[key].weight, c.skips[key].weight)
