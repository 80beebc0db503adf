"""Registries equal the spec's names; every family builds, trains one step and is deterministic."""

import pytest
import torch
from pydantic import TypeAdapter

from skipcore.data import registered as registered_data
from skipcore.data.base import DataInfo
from skipcore.models import build_model
from skipcore.models import registered as registered_families
from skipcore.probes import probe_modules
from skipcore.spec import DATASET_NAMES, FAMILIES, PROBE_NAMES
from skipcore.spec.models import IMAGE_FAMILIES, ModelParams

torch.set_num_threads(1)


def test_builders_keys_equal_spec_families():
    assert set(registered_families()) == set(FAMILIES)


def test_probes_keys_equal_spec_probe_names():
    assert set(probe_modules()) == set(PROBE_NAMES)


def test_datasets_keys_equal_spec_dataset_names():
    assert set(registered_data()) == set(DATASET_NAMES)


# Small but valid params per family; the rest are the spec defaults.
SMALL = {
    "plain_mlp": {"depth": 3, "width": 8},
    "telescope_mlp": {"depth": 3, "width": 8},
    "resnet_mlp": {"depth": 2, "width": 8, "stochastic_depth": 0.8},
    "dense_skip_mlp": {"widths": [8, 6]},
    "skip_layer_mlp": {"depth": 2, "width": 4},
    "highway_mlp": {"depth": 2, "width": 8},
    "vanilla_cnn": {"width_mult": 0.125},
    "skip_cnn": {"width_mult": 0.125},
    "widened_cnn": {"width_mult": 0.125},
    "resnet_cnn": {"depth": 8, "widths": [4, 8, 8]},
    "densenet_cnn": {"growth_rate": 4, "block_layers": [1, 1], "init_channels": 4},
    "unet": {"depth": 2, "base_channels": 4},
}


def _case(family):
    params = TypeAdapter(ModelParams).validate_python({"family": family, **SMALL[family]})
    if family == "unet":
        info = DataInfo("segmentation", (3, 16, 16), 3)
        x, y = torch.randn(2, 3, 16, 16), torch.randint(0, 3, (2, 16, 16))
    elif family in IMAGE_FAMILIES:
        info = DataInfo("classification", (3, 32, 32), 10)
        x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 10, (2,))
    else:
        info = DataInfo("regression", (3,), 2)
        x, y = torch.randn(5, 3), torch.randn(5, 2)
    return params, info, x, y


@pytest.mark.parametrize("family", sorted(SMALL))
def test_family_forward_backward_and_layer_names(family):
    params, info, x, y = _case(family)
    torch.manual_seed(0)
    model = build_model(params, info)
    out = model(x)
    loss = torch.nn.functional.mse_loss(out, y) if info.task == "regression" else torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    assert torch.isfinite(loss)
    modules = dict(model.named_modules())
    names = model.layer_names()
    assert names and len(set(names)) == len(names)
    for name in names:
        assert modules[name].weight.grad is not None, name


@pytest.mark.parametrize("family", sorted(SMALL))
def test_family_same_seed_same_weights_and_output(family):
    params, info, x, _ = _case(family)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = build_model(params, info).eval()
        outs.append(model(x))
    assert torch.equal(outs[0], outs[1])
