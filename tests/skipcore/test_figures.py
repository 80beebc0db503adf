"""Figures from real probe results on tiny trained models: a PNG that is a real, non-blank image,
an SVG, and a Vega-Lite v5 spec with its data inlined; a result missing keys gives None."""

import io
import json
import xml.etree.ElementTree as ET

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


def test_vega_only_is_the_spec_the_drawn_figure_carries_and_renders_no_image(mlp_results, block_results, l1_result):
    out, records, _ = mlp_results
    cases = [("weight_magnitude", out["weight_magnitude"], records), ("weight_magnitude", out["weight_magnitude"], None),
             ("gradient_flow", out["gradient_flow"], None), ("skip_ablation", out["skip_ablation"], None),
             ("l1_linearity", l1_result, None)]
    cases += [(name.removesuffix("_1d"), result, None) for name, result in block_results.items()]
    assert {name for name, _, _ in cases} == set(figures.FIGURES)  # every figure is checked
    for name, result, recs in cases:
        fig = figures.FIGURES[name](result, records=recs)
        assert fig is not None and fig.png.startswith(PNG_SIGNATURE), name
        assert figures.vega_only(figures.FIGURES[name], result, records=recs) == fig.vega, name
    assert figures.vega_only(figures.weight_magnitude, {"layers": "missing mean_abs"}) is None
    assert figures.weight_magnitude(out["weight_magnitude"]).png.startswith(PNG_SIGNATURE)  # images again after


def test_vega_only_builds_no_matplotlib_figure(mlp_results, block_results, l1_result, monkeypatch):
    """The spec alone (what a run stores before it is finished) costs no matplotlib figure: nothing
    is built or laid out, where building the weight-magnitude figure alone took tens of ms."""
    import matplotlib.figure

    out, records, _ = mlp_results
    cases = [(figures.weight_magnitude, out["weight_magnitude"], records), (figures.l1_linearity, l1_result, None)]
    cases += [(figures.FIGURES[name.removesuffix("_1d")], result, None) for name, result in block_results.items()]
    built = []
    init = matplotlib.figure.Figure.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "__init__", counted)
    specs = [figures.vega_only(fn, result, records=recs) for fn, result, recs in cases]
    assert all(isinstance(v, dict) and v.get("$schema") for v in specs)
    assert built == []
    assert figures.weight_magnitude(out["weight_magnitude"]).png.startswith(PNG_SIGNATURE) and len(built) == 1


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


# ------------------------------------------------------------------ what a reader sees on the axes

SVG = "{http://www.w3.org/2000/svg}g"


def _comments(el) -> list[str]:
    return [c.text.strip() for c in el.iter() if c.tag is ET.Comment]


def svg_axes(svg: bytes) -> list[dict]:
    """Per matplotlib axes of a figure's SVG: its x/y tick labels and axis titles, as drawn."""
    root = ET.fromstring(svg, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    out = []
    for ax in (g for g in root.iter(SVG) if (g.get("id") or "").startswith("axes_")):
        found = {}
        axes = [g for g in ax.iter(SVG) if (g.get("id") or "").startswith("matplotlib.axis_")]
        for axis, group in zip("xy", axes):  # numbered across the figure: x, y, x, y, ...
            ticks = [g for g in group if (g.get("id") or "").startswith(f"{axis}tick_")]
            found[f"{axis}ticks"] = [t for g in ticks for t in _comments(g)]
            found[f"{axis}label"] = " ".join(t for g in group if g.tag == SVG and g not in ticks for t in _comments(g))
        out.append(found)
    return out


def _number(label: str) -> float:
    return float(label.replace("−", "-").rstrip("%"))


def assert_round_even_ticks(labels: list[str]) -> None:
    """Tick labels a person would write: evenly spaced by 1, 2 or 5 × 10^k, no float noise digits."""
    values = [_number(t) for t in labels]
    assert len(values) >= 3, labels
    steps = np.diff(values)
    assert np.allclose(steps, steps[0], rtol=1e-6), labels
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 5)), labels
    assert all(len(t.replace("−", "").replace("-", "").lstrip("0.").replace(".", "")) <= 3 for t in labels), labels


def _scaled_records(steps, bases, growth):
    """weight_mean_abs records whose layers all change by the same relative amounts over training."""
    return [{"name": "weight_mean_abs", "step": s, "values": [b * g for b in bases]}
            for s, g in zip(steps, growth)]


def test_the_heat_map_colours_every_layer_on_a_readable_scale_when_the_input_layer_is_8x_the_others():
    names = ["hidden.0", "hidden.1", "hidden.2", "output"]
    bases = [1.2, 0.15, 0.14, 0.16]  # the input layer's |W| is 8x the hidden layers' (fan-in 1)
    steps = list(range(0, 121))
    fig = figures.weight_magnitude({"layers": names, "mean_abs": [b * 1.3 for b in bases]},
                                   records=_scaled_records(steps, bases, np.linspace(1.0, 1.3, len(steps))))
    heat = fig.vega["vconcat"][1]
    field = heat["encoding"]["color"]["field"]
    values = np.array([r[field] for r in heat["data"]["values"]], dtype=float)
    lo, hi = heat["encoding"]["color"].get("scale", {}).get("domain", [values.min(), values.max()])
    per_layer = {}
    for r in heat["data"]["values"]:
        per_layer.setdefault(r["layer"], []).append((r[field] - lo) / (hi - lo))
    for layer, pos in per_layer.items():  # each layer uses a good part of the colour scale
        assert max(pos) - min(pos) > 0.3, (layer, min(pos), max(pos))
    # the reader is told what the colour is
    assert any("epoch 0" in a["ylabel"] and "%" in a["ylabel"] for a in svg_axes(fig.svg)), svg_axes(fig.svg)


def test_the_heat_map_epoch_ticks_are_round_and_evenly_spaced():
    steps = list(range(0, 121)) + list(range(125, 301, 5))  # thinned unevenly, as long runs are
    fig = figures.weight_magnitude({"layers": ["hidden.0", "output"], "mean_abs": [1.0, 0.2]},
                                   records=_scaled_records(steps, [1.0, 0.2], np.linspace(1, 2, len(steps))))
    heat_axes = next(a for a in svg_axes(fig.svg) if a["ylabel"] == "epoch")
    assert_round_even_ticks(heat_axes["yticks"])
    assert _number(heat_axes["yticks"][0]) == 0 and _number(heat_axes["yticks"][-1]) == 300


def test_layer_tick_labels_and_axis_titles_name_layers_the_same_way(mlp_results):
    out, records, _ = mlp_results
    names = out["weight_magnitude"]["layers"]
    assert names == [f"hidden.{k}" for k in range(6)] + ["output"]
    for fig in (figures.weight_magnitude(out["weight_magnitude"], records=records),
                figures.gradient_flow(out["gradient_flow"])):
        layer_axes = [a for a in svg_axes(fig.svg) if a["xlabel"].startswith("layer")]
        assert len(layer_axes) == (2 if fig.name == "weight_magnitude" else 1)
        for a in layer_axes:  # 1 = the first hidden layer, as in the studies; the output layer is "out"
            assert a["xticks"] == ["1", "2", "3", "4", "5", "6", "out"], a
            assert "1 = first hidden layer" in a["xlabel"] and "out = output layer" in a["xlabel"], a
    deep = figures.weight_magnitude({"layers": [f"hidden.{k}" for k in range(50)] + ["output"],
                                     "mean_abs": [0.1] * 51})
    (a,) = svg_axes(deep.svg)
    assert a["xticks"][0] == "1" and a["xticks"][-1] == "out" and "50" in a["xticks"], a["xticks"]


def _sweep(points):
    return {"points": [{"params": {"model.depth": d}, "n": n, "metrics": {"val_loss": stat}} for d, n, stat in points]}


def test_across_seed_error_bars_of_a_positive_metric_never_go_below_zero_and_ticks_are_round():
    # 0.01419 ± 0.03 crosses 0: a loss cannot, so the bar stops at 0 and the axis stays linear
    agg = _sweep([(2, 3, {"mean": 0.01419, "ci95": [-0.0158, 0.0442], "values": [0.001, 0.003, 0.038]}),
                  (4, 3, {"mean": 0.009462, "ci95": [0.0051, 0.0138], "values": [0.008, 0.009, 0.011]}),
                  (8, 3, {"mean": 0.02107, "ci95": [0.0127, 0.0294], "values": [0.018, 0.021, 0.024]})])
    fig = figures.depth_sweep(agg, metric="val_loss")
    rows = [r for r in fig.vega["data"]["values"] if r.get("lo") is not None]
    assert len(rows) == 3 and min(r["lo"] for r in rows) == 0.0
    (a,) = svg_axes(fig.svg)
    assert not any("10^" in t for t in a["yticks"]), a["yticks"]  # never a log axis under a CI reaching 0
    assert_round_even_ticks(a["yticks"])
    # a signed quantity keeps its CI below zero
    signed = figures.depth_sweep(agg, metric="val_loss", nonnegative=False)
    assert min(r["lo"] for r in signed.vega["data"]["values"] if r.get("lo") is not None) < 0


def test_across_seed_points_with_fewer_than_3_seeds_show_the_seeds_not_a_ci():
    agg = _sweep([(2, 2, {"mean": 0.30, "ci95": [-1.0, 1.6], "values": [0.25, 0.35]}),
                  (4, 3, {"mean": 0.12, "ci95": [0.10, 0.14], "values": [0.11, 0.12, 0.13]}),
                  (8, 1, {"mean": 0.05, "ci95": None, "values": [0.05]})])
    fig = figures.depth_sweep(agg, metric="val_loss")
    by_x = {r["x"]: r for r in fig.vega["data"]["values"]}
    assert by_x[2]["lo"] is None and by_x[8]["lo"] is None and by_x[4]["lo"] == 0.10
    seeds = [layer for layer in fig.vega["layer"] if layer.get("data")]
    assert len(seeds) == 1
    assert sorted((r["x"], r["value"]) for r in seeds[0]["data"]["values"]) == [(2, 0.25), (2, 0.35), (8, 0.05)]
