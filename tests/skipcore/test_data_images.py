"""Image data: fake_images, synthetic_segmentation, and the torchvision loaders (cifar10,
emnist_letters) on tiny real-format files written to tmp_path (real torchvision reading code)."""

import hashlib
import pickle
import struct

import numpy as np
import pytest
import torch

from skipcore.data import MissingDataError, load_dataset
from skipcore.data.base import split_indices
from skipcore.data.images import fake_images, synthetic_segmentation
from skipcore.data.vision import crop_flip
from skipcore.spec.data import Cifar10, EmnistLetters, FakeImages, SyntheticSegmentation

torch.set_num_threads(1)


def _nearest_mean_acc(d):
    k = d.info.n_outputs
    means = torch.stack([d.x_train[d.y_train == c].flatten(1).mean(0) for c in range(k)])
    pred = torch.cdist(d.x_val.flatten(1), means).argmin(1)
    return (pred == d.y_val).float().mean().item()


# ----------------------------------------------------------------------------- fake_images
def test_fake_images_shapes_and_determinism():
    p = FakeImages(name="fake_images", n_train=20, n_val=10, image_size=8, channels=2, n_classes=3)
    a, b, c = fake_images(p, seed=1), fake_images(p, seed=1), fake_images(p, seed=2)
    assert a.x_train.shape == (20, 2, 8, 8) and a.y_val.shape == (10,) and a.y_train.dtype == torch.long
    assert a.info.in_shape == (2, 8, 8) and a.info.n_outputs == 3 and a.info.task == "classification"
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)


def test_learnable_fake_images_are_learnable_and_fakedata_ones_are_not():
    kw = dict(name="fake_images", n_train=400, n_val=200, image_size=8, n_classes=4)
    assert _nearest_mean_acc(fake_images(FakeImages(**kw), seed=0)) > 0.5  # chance 0.25
    assert _nearest_mean_acc(fake_images(FakeImages(**kw, learnable=False), seed=0)) < 0.4


def _class_means(d):
    return torch.stack([d.x_train[d.y_train == c].flatten(1).mean(0) for c in range(d.info.n_outputs)])


def test_fake_images_class_patterns_come_from_the_task_seed_not_the_run_seed():
    kw = dict(name="fake_images", n_train=400, n_val=200, image_size=8, n_classes=4)
    base = fake_images(FakeImages(**kw), seed=0)
    fitted = _class_means(base)  # per class: the (shift-blurred) pattern plus noise

    def similarity(d):  # cosine of each class's mean image with run seed 0's, class by class
        return torch.nn.functional.cosine_similarity(_class_means(d), fitted, dim=1)

    for run_seed in (1, 2):
        same_task = fake_images(FakeImages(**kw), seed=run_seed)
        assert not torch.equal(same_task.x_train, base.x_train)  # other samples
        assert similarity(same_task).min() > 0.5, similarity(same_task)  # the same class patterns
        nearest = torch.cdist(same_task.x_val.flatten(1), fitted).argmin(1)
        assert (nearest == same_task.y_val).float().mean() > 0.5  # seed 0's classifier works (chance 0.25)
    other_task = fake_images(FakeImages(**kw, task_seed=1), seed=1)
    assert similarity(other_task).max() < 0.45, similarity(other_task)


# ----------------------------------------------------------------------------- synthetic_segmentation
def test_synthetic_segmentation_masks():
    p = SyntheticSegmentation(name="synthetic_segmentation", n_train=64, n_val=8, image_size=16, n_classes=4)
    d = synthetic_segmentation(p, seed=0)
    assert d.x_train.shape == (64, 1, 16, 16) and d.y_train.shape == (64, 16, 16) and d.y_train.dtype == torch.long
    assert d.info.task == "segmentation" and d.info.n_outputs == 4
    assert set(torch.unique(d.y_train).tolist()) == {0, 1, 2, 3}
    assert (d.y_train > 0).flatten(1).any(1).all()  # every image has at least one shape
    fg, bg = d.x_train[:, 0][d.y_train > 0], d.x_train[:, 0][d.y_train == 0]
    assert fg.mean() > bg.mean() + 0.5
    assert torch.equal(synthetic_segmentation(p, seed=0).y_val, d.y_val)


def test_many_classes_reuse_shapes_at_a_brighter_tier():
    p = SyntheticSegmentation(name="synthetic_segmentation", n_train=200, n_val=1, image_size=16, n_classes=12)
    d = synthetic_segmentation(p, seed=0)
    x, y = d.x_train[:, 0], d.y_train
    assert x[y == 10].mean() > x[(y > 0) & (y <= 8)].mean() + 0.5


# ----------------------------------------------------------------------------- cifar10
def test_missing_cifar_names_the_files_and_folder(tmp_path):
    with pytest.raises(MissingDataError) as err:
        load_dataset(Cifar10(name="cifar10"), seed=0, root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "data_batch_1" in msg and "test_batch" in msg
    assert "cifar-10-python.tar.gz" in msg and "Downloads are off" in msg


def _fake_cifar(root, per_batch=3):
    from torchvision.datasets import CIFAR10

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        entry = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": [(i + j) % 10 for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{k}" for k in range(10)]}))
    md5["batches.meta"] = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    return CIFAR10, md5


def _point_torchvision_at(CIFAR10, md5, monkeypatch):
    # torchvision checks every file's MD5 against the real data set's; point it at our tiny files.
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{j}", md5[f"data_batch_{j}"]] for j in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5["batches.meta"]})


def test_cifar10_loads_real_format_batches_through_torchvision(tmp_path, monkeypatch):
    CIFAR10, md5 = _fake_cifar(tmp_path)
    _point_torchvision_at(CIFAR10, md5, monkeypatch)
    d = load_dataset(Cifar10(name="cifar10", subset=12, val_size=3), seed=0, root=tmp_path)
    assert d.x_train.shape == (9, 3, 32, 32) and d.x_val.shape == (3, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    assert sorted(d.y_train.tolist() + d.y_val.tolist()) == sorted([(i + j) % 10 for i in range(4) for j in range(3)])
    assert d.y_test.tolist() == [5, 6, 7]
    assert d.x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-5  # normalised with the training images
    g = torch.Generator().manual_seed(0)
    out = d.augment(d.x_train, g)
    assert out.shape == d.x_train.shape and not torch.equal(out, d.x_train)


def test_cifar10_validation_is_a_seeded_holdout_of_training_not_the_test_batch(tmp_path, monkeypatch):
    CIFAR10, md5 = _fake_cifar(tmp_path, per_batch=4)
    _point_torchvision_at(CIFAR10, md5, monkeypatch)
    spec = Cifar10(name="cifar10", val_size=5, augment=False)
    d = load_dataset(spec, seed=0, root=tmp_path)
    pixels = lambda ds: torch.as_tensor(ds.data).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    raw_train, raw_test = pixels(CIFAR10(str(tmp_path), train=True)), pixels(CIFAR10(str(tmp_path), train=False))
    tr, va, _ = split_indices(20, 0, "cifar10", 5)
    mean = raw_train[tr].mean(dim=(0, 2, 3), keepdim=True)
    std = raw_train[tr].std(dim=(0, 2, 3), keepdim=True)
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (15, 5, 4)
    assert torch.allclose(d.x_val, (raw_train[va] - mean) / std, atol=1e-5)  # held-out training images
    assert torch.allclose(d.x_train, (raw_train[tr] - mean) / std, atol=1e-5)
    assert torch.allclose(d.x_test, (raw_test - mean) / std, atol=1e-5)  # the official test batch
    assert sorted(tr.tolist() + va.tolist()) == list(range(20))
    again = load_dataset(spec, seed=7, root=tmp_path)  # the run seed does not move the split
    assert torch.equal(again.x_val, d.x_val) and torch.equal(again.y_train, d.y_train)
    other = load_dataset(Cifar10(name="cifar10", val_size=5, augment=False, split_seed=1), seed=0, root=tmp_path)
    assert not torch.equal(other.x_val, d.x_val)


def test_cifar10_with_bad_checksums_is_reported_as_not_the_real_files(tmp_path):
    _fake_cifar(tmp_path)
    with pytest.raises(MissingDataError, match="torchvision rejects them"):
        load_dataset(Cifar10(name="cifar10"), seed=0, root=tmp_path)


def test_crop_flip_pads_with_the_fill_value_and_keeps_content():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 100
    out = crop_flip(torch.tensor([-7.0]), padding=2)(x, torch.Generator().manual_seed(3))
    vals = set(out.unique().tolist())
    assert vals <= set(x.unique().tolist()) | {-7.0}
    zero_pad = crop_flip(torch.tensor([0.0]), padding=0)(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(z, xi) or torch.equal(z, xi.flip(2)) for z, xi in zip(zero_pad, x))


# ----------------------------------------------------------------------------- emnist_letters
def _idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = 0x0800 + arr.ndim
    path.write_bytes(struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.tobytes())


def test_missing_emnist_names_the_raw_files(tmp_path):
    with pytest.raises(MissingDataError) as err:
        load_dataset(EmnistLetters(name="emnist_letters"), seed=0, root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "EMNIST" / "raw") in msg and "emnist-letters-train-images-idx3-ubyte" in msg
    assert "Downloads are off" in msg


def _emnist_files(raw, n_train=26, n_test=4):
    raw.mkdir(parents=True)
    for part, n in (("train", n_train), ("test", n_test)):
        upright = np.zeros((n, 28, 28), dtype=np.uint8)
        for i in range(n):
            upright[i, 2 if part == "train" else 20, i % 26] = 255  # row 2 (train) or 20 (test), column = label
        _idx(raw / f"emnist-letters-{part}-images-idx3-ubyte", upright.transpose(0, 2, 1))  # stored transposed
        _idx(raw / f"emnist-letters-{part}-labels-idx1-ubyte", np.arange(n) % 26 + 1)


def test_emnist_letters_loads_real_idx_files_upright_with_labels_from_zero(tmp_path):
    _emnist_files(tmp_path / "EMNIST" / "raw")
    d = load_dataset(EmnistLetters(name="emnist_letters", val_size=0.25), seed=0, root=tmp_path)
    assert d.x_train.shape[1:] == (1, 28, 28) and len(d.x_train) + len(d.x_val) == 26 and len(d.x_val) == 6
    assert d.info.n_outputs == 26
    x = torch.cat([d.x_train, d.x_val])[:, 0]
    y = torch.cat([d.y_train, d.y_val])
    assert sorted(y.tolist()) == list(range(26))
    for img, label in zip(x, y):
        r, c = divmod(int(img.argmax()), 28)
        assert (r, c) == (2, int(label))
    assert d.y_test.tolist() == [0, 1, 2, 3]  # the official test split is the test set, not validation
    assert [divmod(int(img.argmax()), 28)[0] for img in d.x_test[:, 0]] == [20] * 4


def test_emnist_val_fraction_is_the_older_name_of_val_size(tmp_path):
    _emnist_files(tmp_path / "EMNIST" / "raw")
    a = load_dataset(EmnistLetters(name="emnist_letters", val_fraction=0.25), seed=0, root=tmp_path)
    b = load_dataset(EmnistLetters(name="emnist_letters", val_size=0.25), seed=3, root=tmp_path)
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    with pytest.raises(ValueError, match="not both"):
        EmnistLetters(name="emnist_letters", val_fraction=0.25, val_size=0.1)


def test_missing_emnist_test_split_is_named(tmp_path):
    _emnist_files(tmp_path / "EMNIST" / "raw")
    (tmp_path / "EMNIST" / "raw" / "emnist-letters-test-images-idx3-ubyte").unlink()
    with pytest.raises(MissingDataError, match="emnist-letters-test-images-idx3-ubyte"):
        load_dataset(EmnistLetters(name="emnist_letters"), seed=0, root=tmp_path)
