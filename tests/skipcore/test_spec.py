"""The spec as the science core reads it, and every example spec validates and builds."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from skipcore.spec import ExperimentSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC_FILES = sorted(EXAMPLES.rglob("*.json"))


def test_there_are_examples():
    assert (EXAMPLES / "telescope_small.json") in SPEC_FILES
    assert len(SPEC_FILES) >= 8


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_example_validates_and_expands(path):
    spec = ExperimentSpec.model_validate(json.loads(path.read_text()))
    plans = spec.expand()
    assert plans and all(p.run_spec()["seeds"] == [p.seed] for p in plans)


def test_small_examples_have_a_full_size_sibling():
    for small in EXAMPLES.glob("specs/*_small.json"):
        assert small.with_name(small.name.replace("_small", "")).exists(), small.name


def test_skip_star_requires_switchable_skips():
    with pytest.raises(ValidationError, match="skip_star"):
        ExperimentSpec.model_validate({
            "name": "x", "model": {"family": "plain_mlp"}, "data": {"name": "sine"},
            "train": {"skip_star": {"rule": "epochs", "phase1_epochs": 2}, "epochs": 5},
        })


def test_zero_residual_init_only_for_resnet_mlp():
    ExperimentSpec.model_validate({"name": "x", "model": {"family": "resnet_mlp", "init": "zero_residual"}, "data": {"name": "sine"}})
    with pytest.raises(ValidationError):
        ExperimentSpec.model_validate({"name": "x", "model": {"family": "telescope_mlp", "init": "zero_residual"}, "data": {"name": "sine"}})


def test_depth_sweep_expands_per_seed():
    spec = ExperimentSpec.model_validate({
        "name": "x", "model": {"family": "plain_mlp"}, "data": {"name": "sine"},
        "seeds": [0, 1], "sweep": {"model.depth": [2, 4, 8]},
    })
    plans = spec.expand()
    assert [(p.params["model.depth"], p.seed) for p in plans] == [(d, s) for d in (2, 4, 8) for s in (0, 1)]
    assert plans[-1].spec.model.depth == 8
