"""The train/validation/test split rule and the scikit-learn data sets (digits, diabetes)."""

import pytest
import torch
from pydantic import ValidationError

from skipcore.data import load_dataset
from skipcore.data.base import split_indices
from skipcore.spec import ExperimentSpec, task_of
from skipcore.spec.data import Diabetes, Digits

torch.set_num_threads(1)


def test_split_indices_partition_and_depend_only_on_the_split_seed():
    tr, va, te = split_indices(100, 3, "x", 0.2, 10)
    assert (len(tr), len(va), len(te)) == (70, 20, 10)
    assert sorted(torch.cat([tr, va, te]).tolist()) == list(range(100))
    again = split_indices(100, 3, "x", 0.2, 10)
    assert all(torch.equal(a, b) for a, b in zip(again, (tr, va, te)))
    assert not torch.equal(split_indices(100, 4, "x", 0.2, 10)[1], va)
    tr2, va2, none = split_indices(10, 0, "x", 3)
    assert none is None and (len(tr2), len(va2)) == (7, 3)
    with pytest.raises(ValueError, match="leave no training set"):
        split_indices(10, 0, "x", 5, 5)


def _rows(x):
    return {tuple(r) for r in x.flatten(1).tolist()}


def test_digits_real_images_in_disjoint_seeded_splits_whatever_the_run_seed():
    d = load_dataset(Digits(name="digits"), seed=0, root=".")
    assert d.info.task == "classification" and d.info.in_shape == (1, 8, 8) and d.info.n_outputs == 10
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (1079, 359, 359)
    assert sorted(set(d.y_train.tolist())) == list(range(10)) and d.y_test.dtype == torch.long
    # distinct images of the 1,797 (load_digits has a few exact duplicates; a split must not add any)
    assert not (_rows(d.x_val) & _rows(d.x_test))
    assert abs(d.x_train.mean().item()) < 1e-5 and abs(d.x_train.std().item() - 1) < 1e-3  # train statistics
    other = load_dataset(Digits(name="digits"), seed=5, root=".")
    assert torch.equal(other.x_val, d.x_val) and torch.equal(other.y_test, d.y_test)  # seeds vary optimisation only
    moved = load_dataset(Digits(name="digits", split_seed=1), seed=0, root=".")
    assert not torch.equal(moved.y_val, d.y_val)


def test_diabetes_standardised_with_training_statistics_only():
    from sklearn.datasets import load_diabetes

    d = load_dataset(Diabetes(name="diabetes"), seed=0, root=".")
    assert d.info.task == "regression" and d.info.in_shape == (10,) and d.y_train.shape == (266, 1)
    assert (len(d.x_val), len(d.x_test)) == (88, 88) and d.info.x_range is None
    assert d.x_train.mean(0).abs().max() < 1e-5 and (d.x_train.std(0) - 1).abs().max() < 1e-4
    assert abs(d.y_train.mean().item()) < 1e-5
    tr, _, te = split_indices(442, 0, "diabetes", 0.2, 0.2)
    raw = load_diabetes(scaled=False)
    y = torch.tensor(raw.target, dtype=torch.float32)
    expect = (y[te] - y[tr].mean()) / y[tr].std()
    assert torch.allclose(d.y_test[:, 0], expect, atol=1e-5)
    assert d.x_val.mean(0).abs().max() > 0.02  # not re-centred on its own statistics


def test_new_data_sets_in_the_spec():
    assert task_of("digits") == "classification" and task_of("diabetes") == "regression"
    ExperimentSpec.model_validate({"name": "d", "model": {"family": "dense_skip_mlp", "widths": [8]},
                                   "data": {"name": "digits"}})
    ExperimentSpec.model_validate({"name": "d", "model": {"family": "vanilla_cnn"}, "data": {"name": "digits"}})
    ExperimentSpec.model_validate({"name": "d", "model": {"family": "skip_layer_mlp"}, "data": {"name": "diabetes"},
                                   "probes": [{"name": "l1_linearity"}]})
    with pytest.raises(ValidationError, match="image data"):
        ExperimentSpec.model_validate({"name": "d", "model": {"family": "vanilla_cnn"}, "data": {"name": "diabetes"}})
    with pytest.raises(ValidationError, match="leave no training set"):
        Digits(name="digits", val_size=0.6, test_size=0.4)
    with pytest.raises(ValidationError, match="leave no training set"):
        ExperimentSpec.model_validate({"name": "c", "model": {"family": "vanilla_cnn"},
                                       "data": {"name": "cifar10", "subset": 512}})
