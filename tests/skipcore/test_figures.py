"""Figures from real probe results on tiny trained models: a PNG that is a real, non-blank image,
an SVG, and a Vega-Lite v5 spec with its data inlined; a result missing keys gives None."""

import io
import json

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from skipcore import figures
from skipcore.data.images import fake_images
from skipcore.data.synthetic import linear_plus_noise, sine
from skipcore.models.resnet import ResNetCNN
from skipcore.models.skip_layer import SkipLayerMLP
from skipcore.models.telescope import TelescopeMLP
from skipcore.probes import run_probe
from skipcore.spec.data import FakeImages, LinearPlusNoise, Sine
from skipcore.spec.probes import (BlockLesion, GradientFlow, IdentityRatio, L1Linearity, LossLandscape,
                                  SkipAblation, WeightMagnitude)
from skipcore.spec.train import TrainParams
from skipcore.train import ListReporter, fit, seed_everything

torch.set_num_threads(1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mlp_results():
    data = sine(Sine(name="sine", n_train=128, n_val=32), seed=0)
    seed_everything(0)
    m = TelescopeMLP(in_features=1, out_features=1, depth=6, width=16)
    probes = [WeightMagnitude(name="weight_magnitude", every=1), GradientFlow(name="gradient_flow", first_k=4)]
    rep = ListReporter()
    fit(m, data, TrainParams(epochs=5, batch_size=32, lr=3e-3), probes=probes, reporter=rep, seed=0)
    out = {p.name: run_probe(p, m, data) for p in probes}
    out["skip_ablation"] = run_probe(SkipAblation(name="skip_ablation", grid_points=40), m, data)
    records = [{"name": name, "step": epoch, "values": values}
               for epoch, _, layers in rep.records for name, values in layers.items()]
    history = {}
    for epoch, scalars, _ in rep.records:
        for k, v in scalars.items():
            history.setdefault(k, []).append((epoch, v))
    return out, records, history


@pytest.fixture(scope="module")
def block_results():
    data = fake_images(FakeImages(name="fake_images", n_train=32, n_val=32, image_size=8, n_classes=4), seed=0)
    torch.manual_seed(0)
    m = ResNetCNN(in_channels=3, n_classes=4, depth=8, widths=(4, 8, 8))
    fit(m, data, TrainParams(epochs=2, batch_size=16, lr=1e-2), probes=[], seed=0)
    return {
        "identity_ratio": run_probe(IdentityRatio(name="identity_ratio", n_samples=16), m, data),
        "block_lesion": run_probe(BlockLesion(name="block_lesion", n_samples=16, random_k=[2], n_random=2), m, data),
        "loss_landscape": run_probe(LossLandscape(name="loss_landscape", dims=2, points=5, n_samples=16), m, data),
        "loss_landscape_1d": run_probe(LossLandscape(name="loss_landscape", dims=1, points=7, n_samples=16), m, data),
    }


@pytest.fixture(scope="module")
def l1_result():
    data = linear_plus_noise(LinearPlusNoise(name="linear_plus_noise", n_train=64, n_val=32, in_features=3), seed=0)
    seed_everything(0)
    m = SkipLayerMLP(in_features=3, out_features=1, depth=2, width=8)
    fit(m, data, TrainParams(epochs=3, batch_size=32, lr=1e-2, l1=1e-2), probes=[], seed=0)
    return run_probe(L1Linearity(name="l1_linearity", threshold=0.05), m, data)


def assert_good_figure(fig: figures.Figure) -> None:
    assert fig.png.startswith(PNG_SIGNATURE) and len(fig.png) > 5000
    img = mpimg.imread(io.BytesIO(fig.png))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert float(img[..., :3].var()) > 1e-3, "the PNG is blank"
    assert b"<svg" in fig.svg[:2000] and fig.svg.rstrip().endswith(b"</svg>")
    spec = fig.vega
    assert spec["$schema"] == figures.VEGA_SCHEMA
    json.dumps(spec, allow_nan=False)  # embeddable: plain JSON, no NaN
    rows = spec.get("data", {}).get("values") or [r for part in spec.get("vconcat", []) for r in part["data"]["values"]]
    assert rows and all(isinstance(r, dict) for r in rows)


def test_mlp_probe_figures_are_real_images(mlp_results):
    out, records, _ = mlp_results
    for name in ("weight_magnitude", "gradient_flow", "skip_ablation"):
        fig = figures.FIGURES[name](out[name])
        assert fig is not None, name
        assert_good_figure(fig)
        assert fig.name == name


def test_weight_magnitude_with_records_adds_a_heat_map_over_epochs(mlp_results):
    out, records, _ = mlp_results
    fig = figures.weight_magnitude(out["weight_magnitude"], records=records)
    assert_good_figure(fig)
    heat = fig.vega["vconcat"][1]["data"]["values"]
    assert {r["epoch"] for r in heat} == {r["step"] for r in records if r["name"] == "weight_mean_abs"}
    assert len(heat) == len({r["epoch"] for r in heat}) * len(out["weight_magnitude"]["layers"])


def test_block_probe_figures_are_real_images(block_results):
    for name in ("identity_ratio", "block_lesion", "loss_landscape", "loss_landscape_1d"):
        fig = figures.FIGURES[name.removesuffix("_1d")](block_results[name])
        assert fig is not None, name
        assert_good_figure(fig)
    title = figures.loss_landscape(block_results["loss_landscape"]).vega["title"]
    assert "laplacian" in title and "non-convex" in title


def test_identity_ratio_figure_marks_the_values_at_init(block_results):
    result = dict(block_results["identity_ratio"])
    plain = figures.identity_ratio(result)
    result["at_init"] = {**result, "ratio": [2 * r + 0.5 for r in result["ratio"]]}
    with_init = figures.identity_ratio(result)
    assert_good_figure(with_init)
    assert with_init.png != plain.png  # the at-init markers are drawn


def test_l1_linearity_figure(l1_result):
    assert_good_figure(figures.l1_linearity(l1_result))


def test_training_curves_and_depth_sweep(mlp_results):
    _, _, history = mlp_results
    assert_good_figure(figures.training_curves(history))
    aggregate = {"points": [
        {"params": {"model.depth": d}, "n": 3, "metrics": {"depth_error.mc_error": {
            "mean": m, "std": m / 4, "ci95": [m * 0.7, m * 1.3]}}}
        for d, m in ((2, 0.30), (4, 0.12), (8, 0.05), (16, 0.09))]}
    fig = figures.depth_sweep(aggregate)
    assert_good_figure(fig)
    assert [r["x"] for r in fig.vega["data"]["values"]] == [2, 4, 8, 16]


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
@pytest.mark.parametrize("result", [{}, {"layers": None}, {"blocks": [], "downsample": []}, {"loss": "x"}])
def test_a_result_missing_keys_gives_no_figure(name, result):
    assert figures.FIGURES[name](result) is None


def test_nan_values_are_null_in_vega(mlp_results):
    out, _, _ = mlp_results
    r = dict(out["weight_magnitude"], mean_abs=[None] + out["weight_magnitude"]["mean_abs"][1:])
    fig = figures.weight_magnitude(r)
    assert fig.vega["data"]["values"][0]["mean_abs"] is None
    assert figures.depth_sweep({"points": []}) is None and figures.training_curves({}) is None
