"""What each family, data set and probe declares is true of the torch objects the worker builds,
and a family, data set or probe that lacks a declaration fails when its code is imported or tested,
not with a 500 at POST or a failed run."""

from __future__ import annotations

from typing import ClassVar, Literal

import pytest
import torch
from pydantic import TypeAdapter

from skipcore import figures
from skipcore.data import load_dataset
from skipcore.models import build_model, declaration as family_declaration
from skipcore.nn.gates import TransformGate
from skipcore.probes import declaration as probe_declaration
from skipcore.spec import DATASET_NAMES, FAMILIES, PROBE_NAMES, DataInfo
from skipcore.spec.data import DataParams, _Drawn
from skipcore.spec.models import ModelParams, _MLP

torch.set_num_threads(1)

VECTOR, DIGITS, CIFAR = DataInfo("regression", (3,), 2), DataInfo("classification", (1, 8, 8), 10), \
    DataInfo("classification", (3, 32, 32), 10)
ODD = DataInfo("classification", (1, 9, 11), 10)  # odd sizes: floor and ceil halving differ
SEGMENT = DataInfo("segmentation", (2, 17, 19), 4)

# (family, params, data) with every branch of each family's estimate
CASES = [
    ("plain_mlp", {"depth": 3, "width": 8}, VECTOR),
    ("plain_mlp", {"depth": 1, "width": 5}, DIGITS),
    ("telescope_mlp", {"depth": 3, "width": 8}, DIGITS),
    ("resnet_mlp", {"depth": 3, "width": 8}, VECTOR),
    ("resnet_mlp", {"depth": 3, "width": 8, "block": "activation_then_add"}, DIGITS),
    ("dense_skip_mlp", {"widths": [8, 6, 5]}, VECTOR),
    ("dense_skip_mlp", {"widths": [8, 6, 5], "skips": False}, DIGITS),
    ("skip_layer_mlp", {"depth": 2, "width": 4}, VECTOR),
    ("skip_layer_mlp", {"depth": 2, "width": 4, "skip_layer": False}, VECTOR),
    ("skip_layer_mlp", {"depth": 2, "width": 0}, VECTOR),
    ("skip_layer_mlp", {"depth": 2, "width": 0, "skip_layer": False}, DIGITS),
    ("highway_mlp", {"depth": 2, "width": 8}, VECTOR),
    ("vanilla_cnn", {"width_mult": 0.125}, CIFAR),
    ("vanilla_cnn", {}, CIFAR),  # the seed's network at full width
    ("skip_cnn", {"width_mult": 0.25}, CIFAR),
    ("skip_cnn", {"width_mult": 0.125}, ODD),
    ("widened_cnn", {"width_mult": 0.125, "batch_norm": False}, DIGITS),
    ("resnet_cnn", {"depth": 8, "widths": [4, 8, 8]}, CIFAR),
    ("resnet_cnn", {"depth": 14, "widths": [4, 8, 16], "block": "pre_activation"}, ODD),
    ("resnet_cnn", {"depth": 8, "widths": [4, 8], "shortcut": "none"}, DIGITS),
    ("densenet_cnn", {"growth_rate": 4, "block_layers": [1, 2], "init_channels": 4}, CIFAR),
    ("densenet_cnn", {"growth_rate": 4, "block_layers": [2, 1, 1], "init_channels": 5, "bottleneck": False,
                      "compression": 0.7}, ODD),
    ("unet", {"depth": 2, "base_channels": 4}, DataInfo("segmentation", (1, 16, 16), 3)),
    ("unet", {"depth": 3, "base_channels": 3, "long_skips": False, "batch_norm": False}, SEGMENT),
]
# what a weight layer is: a Linear / convolution module, or a highway gate (its Linear runs functionally)
WEIGHT_LAYERS = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d, TransformGate)


def measured(model: torch.nn.Module, in_shape: tuple[int, ...]) -> tuple[int, int]:
    """(trainable parameters, floats per sample output by the weight layers in one forward pass)."""
    outputs: list[int] = []
    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            m.register_forward_hook(lambda m, i, o: outputs.append(o[0].numel()))
    with torch.no_grad():
        model.eval()(torch.randn(2, *in_shape))
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(outputs)


def test_the_cases_cover_every_family():
    assert {family for family, _, _ in CASES} == set(FAMILIES)


@pytest.mark.parametrize("family,params,info", CASES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(CASES)])
def test_every_family_estimate_is_the_parameter_count_and_activations_of_the_built_model(family, params, info):
    spec = TypeAdapter(ModelParams).validate_python({"family": family, **params})
    torch.manual_seed(0)
    model = build_model(spec, info)
    est = spec.estimate(info)
    assert (est.parameters, est.activations) == measured(model, info.in_shape)


OFFLINE = [name for name in DATASET_NAMES if name not in ("cifar10", "emnist_letters")]  # their files are absent


@pytest.mark.parametrize("name", OFFLINE)
def test_every_data_set_declares_the_shape_outputs_and_size_its_loader_returns(name):
    params = TypeAdapter(DataParams).validate_python({"name": name})
    data = load_dataset(params, seed=0, root=".")
    info = params.info()
    assert data.info == info and info.task == params.TASK
    assert tuple(data.x_train.shape[1:]) == info.in_shape and len(data.x_train) == params.train_size()
    assert params.IMAGES == (len(info.in_shape) == 3)
    if info.task == "regression":
        assert data.y_train.shape[1] == info.n_outputs
    else:
        assert int(data.y_train.max()) < info.n_outputs and int(data.y_val.max()) < info.n_outputs


@pytest.mark.parametrize("name,shape,outputs,train", [("cifar10", (3, 32, 32), 10, 45_000),
                                                      ("emnist_letters", (1, 28, 28), 26, 112_320)])
def test_the_torchvision_data_sets_declare_their_shapes(name, shape, outputs, train):
    params = TypeAdapter(DataParams).validate_python({"name": name})
    assert (params.info().in_shape, params.info().n_outputs, params.train_size()) == (shape, outputs, train)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_spec_family_has_a_builder(family):
    assert callable(family_declaration(family).build)


def test_stackable_families_are_the_mlps_with_a_stacked_forward():
    stackable = {f for f in FAMILIES if family_declaration(f).stackable}
    assert stackable == {"plain_mlp", "telescope_mlp", "resnet_mlp", "highway_mlp", "dense_skip_mlp", "skip_layer_mlp"}


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_every_probe_declares_summary_keys_figure_and_at_init(name):
    probe = probe_declaration(name)
    assert callable(probe.run) and all(isinstance(k, str) for k in probe.summary_keys)
    assert probe.figure is None or probe.figure in figures.FIGURES, probe.figure


def test_every_probe_figure_is_declared_by_its_probe():
    assert {probe_declaration(n).figure for n in PROBE_NAMES} - {None} == set(figures.FIGURES)


def test_unknown_names_are_value_errors_naming_the_known_ones():
    with pytest.raises(ValueError, match="known: .*plain_mlp"):
        family_declaration("plain_mpl")
    with pytest.raises(ValueError, match="known: .*weight_magnitude"):
        probe_declaration("weight")


def test_a_family_spec_without_an_estimate_fails_when_its_class_is_defined():
    with pytest.raises(TypeError, match="'wide_mlp'.*declares no estimate"):
        class WideMLP(_MLP):  # noqa: F841 - defining it is the test
            family: Literal["wide_mlp"]
            width: int = 8


def test_a_data_spec_without_its_info_fails_when_its_class_is_defined():
    with pytest.raises(TypeError, match="'spiral'.*declares no TASK, info"):
        class Spiral(_Drawn):  # noqa: F841
            IMAGES: ClassVar[bool] = False
            name: Literal["spiral"]
            n_train: int = 64
