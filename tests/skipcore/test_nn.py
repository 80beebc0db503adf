"""skipcore.nn layers: drop_path (stochastic depth) and the highway gate."""

import pytest
import torch

from skipcore.nn import DropPath, TransformGate, drop_path, highway

torch.set_num_threads(1)


def test_drop_path_is_identity_at_inference():
    x = torch.randn(8, 5)
    assert torch.equal(drop_path(x, 0.3, training=False), x)
    m = DropPath(0.3).eval()
    assert torch.equal(m(x), x) and torch.equal(m(x), m(x))


def test_drop_path_with_survival_one_is_identity_in_training():
    x = torch.randn(8, 5)
    assert torch.equal(drop_path(x, 1.0, training=True), x)


def test_drop_path_drops_whole_samples_and_scales_by_one_over_p():
    x = torch.ones(1000, 3, 2)
    y = drop_path(x, 0.25, training=True, generator=torch.Generator().manual_seed(0))
    per_sample = y.flatten(1)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 4.0).all(1))


def test_drop_path_expectation_equals_input():
    # mean of 200k samples kept with p=0.5, scaled by 2: std of the mean is 1/sqrt(200k) ~ 0.0022
    x = torch.ones(200_000, 1)
    y = drop_path(x, 0.5, training=True, generator=torch.Generator().manual_seed(1))
    assert abs(y.mean().item() - 1.0) < 0.01


def test_drop_path_generator_makes_it_reproducible():
    x = torch.randn(64, 4)
    a = drop_path(x, 0.5, True, generator=torch.Generator().manual_seed(3))
    b = drop_path(x, 0.5, True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5])
def test_drop_path_rejects_bad_probability_naming_it(p):
    with pytest.raises(ValueError, match=repr(p)):
        DropPath(p)
    with pytest.raises(ValueError, match=repr(p)):
        drop_path(torch.ones(2, 2), p, True)


def test_drop_path_extra_repr_names_survival():
    assert "p=0.8" in repr(DropPath(0.8))


def test_highway_with_closed_gate_is_identity_and_open_gate_is_transform():
    x, h = torch.randn(4, 6), torch.randn(4, 6)
    assert torch.equal(highway(x, h, torch.zeros(4, 6)), x)
    assert torch.allclose(highway(x, h, torch.ones(4, 6)), h, atol=1e-6)


def test_transform_gate_starts_at_its_bias_and_rejects_bad_width():
    gate = TransformGate(5, bias=-3.0)
    assert torch.all(gate.linear.bias == -3.0)
    assert "bias=-3" in repr(gate)
    with pytest.raises(ValueError, match="0"):
        TransformGate(0)
