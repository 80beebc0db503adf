"""The seed-000 example specs run the seed's set-up: PyTorch's default init (not He) with the
initialisation as an axis (default first), the seed's V2 block for figure 3, and a description that
states the set-up."""

import json
from pathlib import Path

import pytest

from skipcore.spec import ExperimentSpec

SPECS = sorted((Path(__file__).resolve().parents[2] / "examples" / "specs").glob("000_*.json"))


def test_there_are_seed_000_specs():
    assert len(SPECS) >= 12


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_seed_000_spec_declares_pytorchs_default_init_and_sweeps_init_with_default_first(path):
    spec = json.loads(path.read_text())
    assert spec["model"]["init"] == "default"
    inits = spec["sweep"]["model.init"]
    assert inits[0] == "default" and "he" in inits
    plans = ExperimentSpec.model_validate(spec).expand()
    assert {p.spec.model.init for p in plans} == set(inits)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_seed_000_spec_description_states_the_seeds_set_up(path):
    spec = json.loads(path.read_text())
    d = spec["description"]
    for fact in ("width 64", "ReLU", "Adam with lr 1e-3", "default nn.Linear init", "[-2pi, 2pi]", "batch"):
        assert fact in d, (fact, path.name)
    epochs = {"fig1": "2000 epochs", "fig2": "2000 epochs", "fig3": "2000 epochs", "fig4_depth_error.": "100 epochs",
              "fig4_depth_error_small": "100 epochs", "ideas": "100 epochs"}
    for key, text in epochs.items():
        if key in path.name:
            assert text in d, path.name
    if "fig4" in path.name:
        assert "depth 2..50" in d and "1000" in d


@pytest.mark.parametrize("path", [p for p in SPECS if "fig3" in p.name], ids=lambda p: p.name)
def test_seed_000_fig3_runs_the_seeds_v2_block_at_depth_50(path):
    model = json.loads(path.read_text())["model"]
    assert model["family"] == "resnet_mlp" and model["block"] == "activation_then_add" and model["depth"] == 50
