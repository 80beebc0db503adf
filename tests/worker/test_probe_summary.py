"""The probe outputs the worker copies into a run's summary (what /aggregate and /compare read)."""

import pytest
import torch

from skipcore.data.synthetic import linear_plus_noise, sine
from skipcore.models.mlp import PlainMLP
from skipcore.models.resnet_mlp import ResNetMLP
from skipcore.models.skip_layer import SkipLayerMLP
from skipcore.probes import run_probe, run_with_init
from skipcore.spec.data import LinearPlusNoise, Sine
from skipcore.spec.probes import DepthError, IdentityRatio, L1Linearity
from worker.execute import _probe_summary

torch.set_num_threads(1)


def test_l1_linearity_fraction_pruned_and_r2_reach_the_summary():
    d = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=32, n_val=16, in_features=2), seed=0)
    torch.manual_seed(0)
    out = run_probe(L1Linearity(name="l1_linearity", threshold=1e-3),
                    SkipLayerMLP(in_features=2, out_features=1, depth=1, width=4), d)
    assert _probe_summary("l1_linearity", out) == {"l1_linearity.fraction_pruned": out["fraction_pruned"],
                                                   "l1_linearity.r2": out["r2"]}


def test_depth_error_summary_and_probes_without_one():
    d = sine(Sine(name="sine", n_train=32, n_val=16), seed=0)
    torch.manual_seed(0)
    out = run_probe(DepthError(name="depth_error", n_points=50), PlainMLP(in_features=1, out_features=1, depth=2, width=4), d)
    assert _probe_summary("depth_error", out) == {"depth_error.mc_error": out["mc_error"]}
    assert _probe_summary("weight_magnitude", {"mean_abs": [1.0]}) == {}


def test_identity_ratio_mean_trained_and_at_init_reach_the_summary():
    d = sine(Sine(name="sine", n_train=32, n_val=16), seed=0)
    params = IdentityRatio(name="identity_ratio", n_samples=16)
    torch.manual_seed(0)
    trained = ResNetMLP(in_features=1, out_features=1, depth=2, width=4)
    torch.manual_seed(1)
    init = ResNetMLP(in_features=1, out_features=1, depth=2, width=4)
    out = run_with_init(params, trained, d, lambda: init)
    mean = sum(out["ratio"]) / len(out["ratio"])
    mean_at_init = sum(out["at_init"]["ratio"]) / len(out["at_init"]["ratio"])
    assert mean != pytest.approx(mean_at_init)
    assert _probe_summary("identity_ratio", out) == {"identity_ratio.mean": pytest.approx(mean),
                                                     "identity_ratio.mean_at_init": pytest.approx(mean_at_init)}
    del out["at_init"]
    assert _probe_summary("identity_ratio", out) == {"identity_ratio.mean": pytest.approx(mean)}


def test_a_probe_summary_is_the_probes_declared_summary_keys():
    from skipcore.probes import declaration
    from skipcore.spec import PROBE_NAMES

    declared = {name: declaration(name).summary_keys for name in PROBE_NAMES}
    assert {n: k for n, k in declared.items() if k} == {"depth_error": ("mc_error",), "identity_ratio": ("mean",),
                                                        "l1_linearity": ("fraction_pruned", "r2")}
