"""Defining properties of the MLP families (exact equalities where the maths is exact)."""

import pytest
import torch

from skipcore.models.dense_skip import DenseSkipMLP
from skipcore.models.highway import HighwayMLP
from skipcore.models.mlp import PlainMLP
from skipcore.models.resnet_mlp import ActThenAddMLP, ResNetMLP
from skipcore.models.skip_layer import SkipLayerMLP
from skipcore.models.telescope import TelescopeMLP

torch.set_num_threads(1)


def _assert_skips_switch(model, reference, x) -> None:
    """With its skips off `model` computes exactly what `reference` does; with them on, something else."""
    model.set_skips(False)
    assert torch.equal(model(x), reference(x))
    model.set_skips(True)
    assert not torch.allclose(model(x), reference(x))


def test_telescope_with_all_skips_off_equals_the_plain_chain():
    torch.manual_seed(0)
    tele = TelescopeMLP(in_features=3, out_features=2, depth=5, width=7)
    plain = PlainMLP(in_features=3, out_features=2, depth=5, width=7)
    plain.load_state_dict({k: v for k, v in tele.state_dict().items() if k != "skip_mask"})
    _assert_skips_switch(tele, plain, torch.randn(11, 3))


def test_telescope_all_skips_sum_every_layer_output_including_the_last():
    torch.manual_seed(1)
    tele = TelescopeMLP(in_features=2, out_features=1, depth=4, width=5)
    x = torch.randn(6, 2)
    hs = tele.hidden_outputs(x)
    expected = tele.output(hs[-1] + sum(hs))
    assert torch.allclose(tele(x), expected, atol=1e-6)


def test_telescope_mask_selects_skips():
    torch.manual_seed(2)
    tele = TelescopeMLP(in_features=2, out_features=1, depth=4, width=5)
    x = torch.randn(6, 2)
    hs = tele.hidden_outputs(x)
    tele.set_skips([True, False, False, True])
    assert torch.allclose(tele(x), tele.output(hs[-1] + hs[0] + hs[3]), atol=1e-6)
    with pytest.raises(ValueError, match="4"):
        tele.set_skips([True, False])


def test_telescope_identity_init_every_layer_sees_the_first_layers_output():
    tele = TelescopeMLP(in_features=3, out_features=1, depth=6, width=8, init="identity")
    x = torch.randn(10, 3)
    hs = tele.hidden_outputs(x)
    first = torch.relu(tele.hidden[0](x))  # the input layer is He (not the identity), zero bias
    assert torch.all(tele.hidden[0].bias == 0) and (first > 0).any(dim=0).sum() > 4
    for h in hs:
        assert torch.equal(h, first)


def test_dense_skip_with_skips_off_equals_vanilla_mlp_with_same_weights():
    torch.manual_seed(3)
    skip = DenseSkipMLP(in_features=4, out_features=3, widths=[6, 5, 7])
    vanilla = DenseSkipMLP(in_features=4, out_features=3, widths=[6, 5, 7], skips=False)
    vanilla.load_state_dict({k: v for k, v in skip.state_dict().items() if k.startswith("main.")}, strict=False)
    _assert_skips_switch(skip, vanilla, torch.randn(9, 4))


def test_dense_skip_connects_every_non_adjacent_pair():
    m = DenseSkipMLP(in_features=4, out_features=3, widths=[6, 5, 7])
    # layers 0..4; non-adjacent pairs: (0,2),(0,3),(1,3),(0,4),(1,4),(2,4)
    assert sorted(m.skip_pairs()) == sorted([(0, 2), (0, 3), (1, 3), (0, 4), (1, 4), (2, 4)])
    assert m.skips["1_4"].weight.shape == (3, 6)
    assert DenseSkipMLP(in_features=4, out_features=3, widths=[6], skips=False).skip_pairs() == []


def test_dense_skip_forward_matches_the_written_formula():
    torch.manual_seed(4)
    m = DenseSkipMLP(in_features=3, out_features=2, widths=[4, 5])
    x = torch.randn(7, 3)
    h1 = torch.relu(m.main[0](x))
    h2 = torch.relu(m.main[1](h1) + m.skips["0_2"](x))
    y = m.main[2](h2) + m.skips["0_3"](x) + m.skips["1_3"](h1)
    assert torch.allclose(m(x), y, atol=1e-6)


def test_skip_layer_with_width_zero_is_exactly_linear():
    torch.manual_seed(5)
    m = SkipLayerMLP(in_features=3, out_features=2, depth=1, width=0).double()
    a, b = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    zero = torch.zeros(4, 3, dtype=torch.float64)
    assert torch.allclose(m(a + b) - m(a) - m(b) + m(zero), torch.zeros(4, 2, dtype=torch.float64), atol=1e-12)
    assert m.layer_names() == ["direct"]


def test_skip_layer_output_is_hidden_plus_linear_term():
    torch.manual_seed(6)
    m = SkipLayerMLP(in_features=3, out_features=1, depth=2, width=4)
    x = torch.randn(5, 3)
    assert torch.allclose(m(x), m.hidden_term(x) + m.direct(x), atol=1e-6)
    no_skip = SkipLayerMLP(in_features=3, out_features=1, depth=2, width=4, skip_layer=False)
    assert "direct" not in no_skip.layer_names()


def test_highway_with_closed_gate_is_identity():
    torch.manual_seed(7)
    m = HighwayMLP(in_features=3, out_features=2, depth=4, width=6, gate_bias=-2.0)
    for _, block in m.blocks():
        block.gate.linear.bias.data.fill_(float("-inf"))
    x = torch.randn(5, 3)
    assert torch.equal(m.features(x), m.input(x))
    for _, block in m.blocks():
        h = torch.randn(5, 6)
        assert torch.equal(block(h), h)
        assert torch.equal(block.shortcut(h) + block.branch(h), h)


def test_highway_block_is_shortcut_plus_branch():
    torch.manual_seed(8)
    m = HighwayMLP(in_features=3, out_features=2, depth=2, width=6)
    _, block = m.blocks()[0]
    h = torch.randn(5, 6)
    assert torch.allclose(block(h), block.shortcut(h) + block.branch(h), atol=1e-6)
    assert torch.all(block.gate.linear.bias == -2.0)


def test_resnet_mlp_zero_residual_is_identity_of_input_projection():
    torch.manual_seed(9)
    m = ResNetMLP(in_features=3, out_features=2, depth=5, width=6, init="zero_residual")
    x = torch.randn(4, 3)
    assert torch.equal(m.features(x), m.input(x))
    for h in m.block_inputs(x):
        assert torch.equal(h, m.input(x))


def test_resnet_mlp_blocks_and_lesion():
    torch.manual_seed(10)
    m = ResNetMLP(in_features=3, out_features=2, depth=3, width=6, branch_multiplier=0.5)
    x = torch.randn(4, 3)
    names = [n for n, _ in m.blocks()]
    assert names == ["layers.0", "layers.1", "layers.2"]
    _, b0 = m.blocks()[0]
    h = m.input(x)
    assert torch.allclose(b0(h), b0.shortcut(h) + b0.branch(h))
    assert torch.allclose(b0.branch(h), 0.5 * b0.fc2(torch.relu(b0.fc1(torch.relu(h)))))
    m.set_blocks(False)
    assert torch.equal(m.features(x), m.input(x))
    m.set_blocks([True, False, True])
    ins = m.block_inputs(x)
    assert torch.equal(ins[2], ins[1])


def test_resnet_mlp_stochastic_depth_decays_linearly_and_is_off_at_inference():
    m = ResNetMLP(in_features=3, out_features=2, depth=4, width=6, stochastic_depth=0.5)
    ps = [b.drop_path.p for _, b in m.blocks()]
    assert ps == pytest.approx([0.875, 0.75, 0.625, 0.5])
    m.eval()
    x = torch.randn(4, 3)
    assert torch.equal(m(x), m(x))


def test_identity_init_gives_the_non_square_input_and_output_layers_he_not_an_eye_padded_matrix():
    torch.manual_seed(11)
    m = PlainMLP(in_features=2, out_features=3, depth=2, width=64, init="identity")
    assert torch.equal(m.hidden[1].weight, torch.eye(64))
    for layer in (m.hidden[0], m.output):
        assert torch.all(layer.bias == 0)
        assert torch.count_nonzero(layer.weight) == layer.weight.numel()
    assert m.hidden[0].weight.std().item() == pytest.approx(1.0, rel=0.3)  # He for fan_in 2: sqrt(2/2)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "gelu"])
def test_activations_build_and_unknown_is_rejected(act):
    m = PlainMLP(in_features=2, out_features=1, depth=2, width=3, activation=act)
    assert m(torch.randn(2, 2)).shape == (2, 1)
    with pytest.raises(ValueError, match="swish"):
        PlainMLP(in_features=2, out_features=1, depth=2, width=3, activation="swish")


def test_mlps_flatten_image_inputs():
    m = PlainMLP(in_features=3 * 4 * 4, out_features=5, depth=1, width=8)
    assert m(torch.randn(2, 3, 4, 4)).shape == (2, 5)


def test_plain_mlp_builds_at_depth_1000():
    m = PlainMLP(in_features=1, out_features=1, depth=1000, width=2)
    assert len(m.layer_names()) == 1001


def test_resnet_mlp_activation_then_add_forward_is_the_seeds_v2_formula_with_depth_hidden_layers():
    torch.manual_seed(12)
    m = ActThenAddMLP(in_features=2, out_features=1, depth=4, width=5)
    assert m.layer_names() == ["input", "layers.0.fc", "layers.1.fc", "layers.2.fc", "output"]  # 4 hidden layers
    x = torch.randn(7, 2)
    h = torch.relu(m.input(x))
    for i in range(3):
        fc = m.get_submodule(f"layers.{i}.fc")
        h = torch.relu(fc(h)) + h  # x' = sigma(W x + b) + x: the skip added after the non-linearity
    assert torch.allclose(m(x), m.output(h), atol=1e-6)
    _, b0 = m.blocks()[0]
    h0 = torch.relu(m.input(x))
    assert torch.allclose(b0(h0), b0.shortcut(h0) + b0.branch(h0))
    m.set_blocks(False)
    assert torch.equal(m.features(x), h0)


def test_resnet_mlp_block_switch_builds_the_seed_v2_net_with_its_own_stacked_forward():
    from skipcore.models import build_model
    from skipcore.models.resnet_mlp import stacked, stacked_act_then_add
    from skipcore.models.stacking import forward_for
    from skipcore.spec.models import ResNetMLP as Spec
    from skipcore.train.stacked import reason

    info = type("Info", (), {"in_shape": (1,), "n_outputs": 1})()
    pre = build_model(Spec(family="resnet_mlp"), info)
    assert type(pre) is ResNetMLP and forward_for(pre) is stacked
    v2 = build_model(Spec(family="resnet_mlp", block="activation_then_add", depth=50), info)
    assert type(v2) is ActThenAddMLP and len(v2.layer_names()) == 51
    assert forward_for(v2) is stacked_act_then_add and reason([v2, v2]) is None


def test_resnet_mlp_activation_then_add_zero_residual_starts_every_block_as_the_identity():
    m = ActThenAddMLP(in_features=3, out_features=2, depth=5, width=6, init="zero_residual")
    x = torch.randn(4, 3)
    for h in m.block_inputs(x):
        assert torch.equal(h, torch.relu(m.input(x)))
