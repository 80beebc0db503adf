"""Block probes (identity_ratio, block_lesion, loss_landscape) and filter-normalised directions,
on a tiny resnet_cnn trained for a few steps on 8x8 fake images."""

import math

import pytest
import torch
import torch.nn.functional as F

from skipcore.data.images import fake_images
from skipcore.models.resnet import ResNetCNN
from skipcore.probes import identity_ratio, block_lesion, loss_landscape
from skipcore.probes.directions import filter_normalize, random_direction
from skipcore.probes.loss_landscape import roughness
from skipcore.spec.data import FakeImages
from skipcore.spec.probes import BlockLesion, IdentityRatio, LossLandscape

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return fake_images(FakeImages(name="fake_images", n_train=64, n_val=32, image_size=8, n_classes=4), seed=0)


def _trained(data, steps=15, **kw):
    torch.manual_seed(0)
    model = ResNetCNN(in_channels=3, n_classes=4, depth=14, widths=(4, 8, 8), **kw)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(steps):
        idx = torch.arange(i * 16, i * 16 + 16) % len(data.x_train)
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def resnet(data):
    return _trained(data)


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(model, snap):
    return all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- identity_ratio
def test_identity_ratio_reports_every_block_and_leaves_the_model_as_found(data, resnet):
    resnet.train()
    snap = _snapshot(resnet)
    r = identity_ratio.run(resnet, data, IdentityRatio(name="identity_ratio", n_samples=16))
    assert r["blocks"] == [n for n, _ in resnet.blocks()] and len(r["ratio"]) == len(r["median"]) == 6
    assert r["downsample"] == [False, False, True, False, True, False]
    assert all(v > 0 and math.isfinite(v) for v in r["ratio"]) and r["n_samples"] == 16
    assert resnet.training and _same(resnet, snap)


def test_identity_ratio_is_zero_for_zero_initialised_v2_blocks(data):
    torch.manual_seed(0)
    m = ResNetCNN(in_channels=3, n_classes=4, depth=8, widths=(4, 8, 8), block="pre_activation", zero_init_residual=True)
    r = identity_ratio.run(m, data, IdentityRatio(name="identity_ratio", n_samples=8))
    assert r["ratio"] == [0.0, 0.0, 0.0]


# ----------------------------------------------------------------------------- block_lesion
@pytest.mark.parametrize("shortcut", ["identity", "none"])
def test_block_lesion_deltas_and_restored_mask(data, shortcut):
    model = _trained(data, steps=5, shortcut=shortcut)
    model.set_blocks([True, True, False, True, True, True])
    snap = _snapshot(model)
    p = BlockLesion(name="block_lesion", random_k=[2, 50], n_random=3, n_samples=32, seed=1)
    r = block_lesion.run(model, data, p)
    assert _same(model, snap) and model._active == (True, True, False, True, True, True)
    assert len(r["delta_loss"]) == len(r["delta_acc"]) == 6
    assert r["delta_loss"] == pytest.approx([l - r["base_loss"] for l in r["loss"]])
    assert [e["k"] for e in r["random"]] == [2] and r["skipped_k"] == [50]
    assert {"mean_delta_loss_downsample", "mean_delta_acc_other"} <= set(r["summary"])
    again = block_lesion.run(model, data, p)
    assert again["random"] == r["random"]  # seeded draws


# ----------------------------------------------------------------------------- directions
def test_filter_normalised_direction_matches_filter_norms_and_zeroes_1d_params(resnet):
    d = random_direction(resnet, torch.Generator().manual_seed(3))
    params = dict(resnet.named_parameters())
    assert set(d) == set(params)
    for name, p in params.items():
        if p.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            assert torch.allclose(d[name].flatten(1).norm(dim=1), p.flatten(1).norm(dim=1), rtol=1e-5), name
    d2 = random_direction(resnet, torch.Generator().manual_seed(3))
    assert all(torch.equal(d[k], d2[k]) for k in d)
    assert torch.allclose(filter_normalize(torch.ones(2, 3), torch.tensor([[3.0, 0, 4], [0, 0, 1]])).norm(dim=1), torch.tensor([5.0, 1.0]))


# ----------------------------------------------------------------------------- loss_landscape
def test_loss_landscape_2d_restores_weights_exactly(data, resnet):
    resnet.train()
    snap = _snapshot(resnet)
    p = LossLandscape(name="loss_landscape", dims=2, points=5, span=0.5, n_samples=16, seed=7)
    r = loss_landscape.run(resnet, data, p)
    assert _same(resnet, snap) and resnet.training
    assert r["dims"] == 2 and r["seed"] == 7 and len(r["alphas"]) == len(r["betas"]) == 5
    loss = torch.tensor(r["loss"])
    assert loss.shape == (5, 5) and torch.isfinite(loss).all()
    assert loss[2, 2].item() == pytest.approx(r["center_loss"], rel=1e-5)  # alpha = beta = 0
    assert torch.tensor(r["acc"]).shape == (5, 5)
    assert set(r["roughness"]) == {"laplacian", "nonconvex_fraction", "border_ratio"}


def test_loss_landscape_is_the_training_loss_on_a_fixed_subset_with_batch_norm_in_eval(data, resnet):
    p = LossLandscape(name="loss_landscape", dims=1, points=3, n_samples=16, seed=4)
    resnet.train()
    snap = _snapshot(resnet)  # BN running statistics included: evaluating must not update them
    r = loss_landscape.run(resnet, data, p)
    assert _same(resnet, snap) and resnet.training
    x, y = loss_landscape.training_subset(data, 16, 4)
    assert len(set(x.flatten(1).sum(1).tolist())) == 16  # 16 distinct training images
    resnet.eval()
    with torch.no_grad():
        train_loss = F.cross_entropy(resnet(x), y).item()
        val_loss = F.cross_entropy(resnet(data.x_val[:16]), data.y_val[:16]).item()
    resnet.train()
    assert r["center_loss"] == pytest.approx(train_loss, rel=1e-5)
    assert abs(train_loss - val_loss) > 1e-3  # the two sets give different losses: the test tells them apart
    assert r["evaluated_on"].startswith("training subset of 16 of 64 points") and r["batch_norm"] == "eval"
    assert loss_landscape.run(resnet, data, p)["loss"] == r["loss"]  # the same subset every time


def test_loss_landscape_1d_is_seeded(data, resnet):
    p = LossLandscape(name="loss_landscape", dims=1, points=3, n_samples=8, seed=2)
    a, b = loss_landscape.run(resnet, data, p), loss_landscape.run(resnet, data, p)
    assert a["loss"] == b["loss"] and len(a["loss"]) == 3 and "betas" not in a


def test_roughness_of_a_bowl_and_of_a_bumpy_surface():
    g = torch.linspace(-1, 1, 11)
    a, b = torch.meshgrid(g, g, indexing="ij")
    bowl = roughness(1 + a**2 + b**2)
    assert bowl["nonconvex_fraction"] == 0 and bowl["border_ratio"] > 1
    bumpy = roughness(2 + torch.sin(9 * a) * torch.cos(9 * b))
    assert bumpy["nonconvex_fraction"] > 0.3 and bumpy["laplacian"] > bowl["laplacian"]
    assert math.isnan(roughness(torch.tensor([1.0, math.nan, 1.0]))["laplacian"])


# ----------------------------------------------------------------------------- MLP block families
@pytest.mark.parametrize("family", ["resnet_mlp", "highway_mlp"])
def test_block_probes_work_on_the_mlp_block_families_for_regression(family):
    from skipcore.data.synthetic import sine
    from skipcore.models import build_model
    from skipcore.spec.data import Sine
    from skipcore.spec.models import HighwayMLP, ResNetMLP

    data = sine(Sine(name="sine", n_train=32, n_val=32), seed=0, root=None, device="cpu")
    torch.manual_seed(0)
    spec = (ResNetMLP if family == "resnet_mlp" else HighwayMLP)(family=family, depth=3, width=8)
    model = build_model(spec, data.info)
    snap = _snapshot(model)
    ratio = identity_ratio.run(model, data, IdentityRatio(name="identity_ratio", n_samples=16))
    lesion = block_lesion.run(model, data, BlockLesion(name="block_lesion", random_k=[2], n_random=2, n_samples=16))
    land = loss_landscape.run(model, data, LossLandscape(name="loss_landscape", dims=1, points=5, n_samples=16))
    assert len(ratio["ratio"]) == 3 and ratio["downsample"] == [False] * 3
    assert "base_acc" not in lesion and len(lesion["delta_loss"]) == 3  # regression: loss only
    assert "acc" not in land and len(land["loss"]) == 5
    assert _same(model, snap)
