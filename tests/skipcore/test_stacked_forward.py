"""Each family's stacked forward (registered in its model module) computes K single forwards at once:
for every class with one, K seeds stacked give each seed's own output (allclose), with masks and
settings that change the forward; and every family that can join a seed ensemble has one."""

from __future__ import annotations

import pytest
import torch

from skipcore.models import build_model
from skipcore.models.stacking import forward_for, registered
from skipcore.spec.models import DenseSkipMLP, HighwayMLP, PlainMLP, ResNetMLP, SkipLayerMLP, TelescopeMLP
from skipcore.train.ensemble_rules import STACKED_FAMILIES
from skipcore.train.loop import seed_everything
from skipcore.train.stacked import Stacked

INFO = type("Info", (), {"in_shape": (3,), "n_outputs": 2})()
CASES = {
    "plain": (PlainMLP(family="plain_mlp", depth=3, width=8), None),
    "telescope": (TelescopeMLP(family="telescope_mlp", depth=3, width=8), None),
    "telescope_some_skips_off": (TelescopeMLP(family="telescope_mlp", depth=3, width=8),
                                 lambda m: m.set_skips([True, False, True])),
    "resnet": (ResNetMLP(family="resnet_mlp", depth=3, width=8, branch_multiplier=0.5), None),
    "resnet_block_lesioned": (ResNetMLP(family="resnet_mlp", depth=3, width=8),
                              lambda m: m.set_blocks([True, False, True])),
    "resnet_activation_then_add": (ResNetMLP(family="resnet_mlp", block="activation_then_add", depth=4, width=8,
                                             branch_multiplier=0.5, init="default"), None),
    "resnet_activation_then_add_lesioned": (ResNetMLP(family="resnet_mlp", block="activation_then_add", depth=4,
                                                      width=8), lambda m: m.set_blocks([True, False, True])),
    "highway": (HighwayMLP(family="highway_mlp", depth=3, width=8, gate_bias=0.5), None),
    "highway_block_lesioned": (HighwayMLP(family="highway_mlp", depth=3, width=8),
                               lambda m: m.set_blocks([False, True, True])),
    "dense_skip": (DenseSkipMLP(family="dense_skip_mlp", widths=[8, 6, 5]),
                   lambda m: m.set_skips([i % 2 == 0 for i in range(len(m.skip_pairs()))])),
    "dense_skip_without_skips": (DenseSkipMLP(family="dense_skip_mlp", widths=[8, 6], skips=False), None),
    "skip_layer": (SkipLayerMLP(family="skip_layer_mlp", depth=2, width=6), None),
    "skip_layer_linear": (SkipLayerMLP(family="skip_layer_mlp", width=0), None),
    "skip_layer_no_skip": (SkipLayerMLP(family="skip_layer_mlp", depth=1, width=4, skip_layer=False), None),
    "skip_layer_constant": (SkipLayerMLP(family="skip_layer_mlp", width=0, skip_layer=False), None),
}


def seeded_models(params, seeds, setup):
    models = []
    for seed in seeds:
        seed_everything(seed)
        m = build_model(params, INFO)
        if setup is not None:
            setup(m)
        models.append(m)
    return models


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_forward_equals_each_seeds_own_forward(case):
    params, setup = CASES[case]
    models = seeded_models(params, [0, 1, 5], setup)
    if case == "skip_layer_constant":  # its one parameter starts at zero in every seed
        with torch.no_grad():
            for k, m in enumerate(models):
                m.bias.fill_(k + 1.0)
    x = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(2))
    st = Stacked(models, torch.device("cpu"))
    got = st.forward(x)
    want = torch.stack([m(x[k]) for k, m in enumerate(models)])
    assert got.shape == want.shape == (3, 7, 2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(want[0], want[1])  # the seeds really differ


def test_every_class_with_a_stacked_forward_is_checked_above():
    for params, _ in CASES.values():
        build_model(params, INFO)  # imports every family module, so each registers its forward
    checked = {type(build_model(params, INFO)) for params, _ in CASES.values()}
    assert set(registered()) == checked


@pytest.mark.parametrize("family", STACKED_FAMILIES)
def test_every_stackable_family_has_a_stacked_forward(family):
    params = next(p for p, _ in CASES.values() if p.family == family)
    assert forward_for(build_model(params, INFO)) is not None
