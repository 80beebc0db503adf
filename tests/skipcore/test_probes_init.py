"""Probes at initialisation: `init_model` rebuilds exactly the weights a run starts from (the
worker's order: seed everything, build), without touching the global RNG, and `run_with_init`
adds "at_init" to the probes that declare `AT_INIT` (identity_ratio, block_lesion) only."""

import random

import numpy as np
import pytest
import torch

from skipcore.data import load_dataset
from skipcore.models import build_model
from skipcore.probes import init_model, run_with_init, wants_init
from skipcore.spec import PROBE_NAMES, ExperimentSpec
from skipcore.train import fit, seed_everything
from skipcore.train.ensemble import build_models

torch.set_num_threads(1)

SPEC = ExperimentSpec.model_validate({
    "name": "init", "model": {"family": "resnet_cnn", "depth": 8, "widths": [4, 8, 8]},
    "data": {"name": "fake_images", "n_train": 64, "n_val": 32, "image_size": 8, "n_classes": 4},
    "train": {"epochs": 3, "batch_size": 16, "optimizer": "sgd", "lr": 0.1},
    "probes": [{"name": "identity_ratio", "n_samples": 32}, {"name": "block_lesion", "random_k": [1], "n_random": 1},
               {"name": "weight_magnitude"}],
})


def _equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_only_identity_ratio_and_block_lesion_want_an_init_baseline():
    assert {name for name in PROBE_NAMES if wants_init(name)} == {"identity_ratio", "block_lesion"}


@pytest.mark.parametrize("seed", [0, 3])
def test_init_model_is_the_runs_starting_model_and_leaves_the_global_rng_alone(seed):
    data = load_dataset(SPEC.data, seed=seed, root=".")
    seed_everything(seed)  # the worker: load data, seed everything, build (then train)
    start = build_model(SPEC.model, data.info)
    (ens,), _ = build_models(SPEC.model, SPEC.data, [seed])  # the ensemble path's order
    torch.manual_seed(123)
    torch.rand(7)  # whatever the global stream has done since
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    rebuilt = init_model(SPEC.model, data.info, seed)
    after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    assert _equal(rebuilt, start) and _equal(rebuilt, ens)
    assert torch.equal(before[0], after[0]) and (before[1] == after[1]).all() and before[2] == after[2]
    assert not rebuilt.training


def test_run_with_init_separates_trained_from_initial_values():
    data = load_dataset(SPEC.data, seed=0, root=".")
    seed_everything(0)
    model = build_model(SPEC.model, data.info)
    fit(model, data, SPEC.train, seed=0)
    built = []

    def init():
        built.append(init_model(SPEC.model, data.info, 0))
        return built[-1]

    ratio, lesion, mag = (run_with_init(p, model, data, init) for p in SPEC.probes)
    assert len(built) == 2 and "at_init" not in mag  # weight_magnitude does not ask for it
    fresh = init_model(SPEC.model, data.info, 0)
    expect = run_with_init(SPEC.probes[0], fresh, data, lambda: fresh)
    assert ratio["at_init"]["ratio"] == expect["ratio"] and set(ratio["at_init"]) == set(ratio) - {"at_init"}
    assert ratio["ratio"] != ratio["at_init"]["ratio"]  # training moved the blocks
    assert lesion["at_init"]["blocks"] == lesion["blocks"] and lesion["at_init"]["base_loss"] != lesion["base_loss"]
