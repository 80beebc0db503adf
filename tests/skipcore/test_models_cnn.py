"""CNN zoo: seed-001 CNNs (concat shapes), resnet_cnn (V1/V2, shortcuts, lesion, stochastic depth),
densenet_cnn and unet. Tiny images, seeded, CPU."""

import pytest
import torch
from torch import nn

from skipcore.data.base import DataInfo
from skipcore.models import build_model
from skipcore.models.cnn import SeedCNN, seed_widths
from skipcore.models.resnet import ResNetCNN, survival_probs
from skipcore.spec.models import DenseNetCNN, ResNetCNN as ResNetSpec, SkipCNN, UNet, VanillaCNN, WidenedCNN

torch.set_num_threads(1)
CIFAR = DataInfo(task="classification", in_shape=(3, 32, 32), n_outputs=10)


def _seed_cnn(family, **kw):
    torch.manual_seed(0)
    return SeedCNN(in_channels=3, n_classes=10, widths=seed_widths(family), skips=family == "skip_cnn", **kw)


# ----------------------------------------------------------------------------- seed 001 CNN
def test_skip_cnn_concat_shapes_match_the_seed_text():
    t = _seed_cnn("skip_cnn").eval().features(torch.randn(1, 3, 32, 32))
    shapes = {k: tuple(v.shape[1:]) for k, v in t.items()}
    assert shapes == {
        1: (32, 32, 32), 2: (32, 32, 32),
        4: (96, 16, 16),  # 64 + pool(layer 1) 32: "[16, 16, 96], the new tensor in layer 4"
        5: (96, 16, 16),  # 64 + pool(layer 2) 32
        7: (224, 8, 8),   # 128 + pool(new layer 4) 96
        8: (224, 8, 8),   # 128 + pool(new layer 5) 96
    }


def test_widened_cnn_learns_the_skip_cnn_widths_and_vanilla_does_not():
    wide = _seed_cnn("widened_cnn").eval().features(torch.randn(1, 3, 32, 32))
    van = _seed_cnn("vanilla_cnn").eval().features(torch.randn(1, 3, 32, 32))
    assert [wide[k].shape[1] for k in (4, 5, 7, 8)] == [96, 96, 224, 224]
    assert [van[k].shape[1] for k in (4, 5, 7, 8)] == [64, 64, 128, 128]
    m = _seed_cnn("widened_cnn")
    assert (m.conv4.conv.out_channels, m.conv7.conv.out_channels) == (96, 224)


@pytest.mark.parametrize("spec, family", [(VanillaCNN, "vanilla_cnn"), (SkipCNN, "skip_cnn"), (WidenedCNN, "widened_cnn")])
@pytest.mark.parametrize("size", [8, 12])
def test_seed_cnns_run_forward_backward_on_small_images(spec, family, size):
    info = DataInfo(task="classification", in_shape=(1, size, size), n_outputs=5)
    model = build_model(spec(family=family, width_mult=0.25, dropout=0.1), info)
    out = model(torch.randn(2, 1, size, size))
    assert out.shape == (2, 5)
    out.sum().backward()
    mods = dict(model.named_modules())
    assert all(mods[n].weight.grad is not None for n in model.layer_names())


def test_skip_cnn_switched_off_skips_concatenate_zeros():
    m = _seed_cnn("skip_cnn").eval()
    x = torch.randn(2, 3, 16, 16)
    on = m(x)
    m.set_skips([False, True, True, True])
    t = m.features(x)
    assert torch.count_nonzero(t[4][:, 64:]) == 0 and not torch.allclose(m(x), on)
    with pytest.raises(ValueError, match="4 entries"):
        m.set_skips([True])


# ----------------------------------------------------------------------------- resnet_cnn
def _resnet(**kw):
    torch.manual_seed(0)
    kw.setdefault("depth", 8)
    kw.setdefault("widths", (4, 8, 8))
    return ResNetCNN(in_channels=3, n_classes=4, **kw)


def test_resnet_depth_counts_weight_layers_of_the_main_path():
    m = _resnet(depth=20, widths=(16, 32, 64))
    main = [n for n in m.layer_names() if ".skip." not in n]
    assert len(main) == 20 and len(m.blocks()) == 9
    assert [b.downsample for _, b in m.blocks()] == [False] * 3 + [True, False, False] * 2
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_pre_activation_block_with_zeroed_branch_is_exactly_the_identity():
    m = _resnet(block="pre_activation", zero_init_residual=True)
    m.train()  # BN in batch mode too: the zeroed last conv kills the branch regardless
    x = torch.randn(3, 4, 8, 8)
    name, blk = m.blocks()[0]
    assert name == "stage1.0" and not blk.downsample
    assert torch.equal(blk(x), x)
    assert torch.count_nonzero(blk.branch(x)) == 0


def test_plain_block_has_no_identity_path():
    # shortcut none + zeroed branch -> the block outputs exactly 0 (V1: relu(BN with gamma 0, beta 0) = 0).
    for block in ("post_activation", "pre_activation"):
        m = _resnet(block=block, shortcut="none", zero_init_residual=True)
        blk = m.blocks()[0][1]
        assert blk.shortcut(torch.randn(1, 4, 8, 8)) is None
        assert torch.count_nonzero(blk(torch.randn(3, 4, 8, 8))) == 0
        assert not [n for n in m.layer_names() if ".skip." in n]


def test_branch_multiplier_multiplies_the_branch():
    a, b = _resnet(branch_multiplier=1.0).eval(), _resnet(branch_multiplier=0.3).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(b.blocks()[0][1].branch(x), 0.3 * a.blocks()[0][1].branch(x), atol=1e-6)


def test_stochastic_depth_survival_decays_linearly_and_inference_is_deterministic():
    assert survival_probs(4, 0.5) == pytest.approx([0.875, 0.75, 0.625, 0.5])
    m = _resnet(stochastic_depth=0.2)
    x = torch.randn(8, 3, 8, 8)
    m.train()
    torch.manual_seed(1)
    t1 = m(x)
    assert any(not torch.allclose(t1, m(x)) for _ in range(10))  # blocks dropped at random
    m.eval()
    assert torch.equal(m(x), m(x))
    with pytest.raises(ValueError, match="shortcut='identity'"):
        _resnet(stochastic_depth=0.5, shortcut="none")


@pytest.mark.parametrize("shortcut", ["identity", "none"])
def test_lesioned_block_passes_its_input_on(shortcut):
    m = _resnet(shortcut=shortcut, block="pre_activation").eval()
    x = torch.randn(2, 3, 8, 8)
    m.set_blocks([True, False, False])  # downsampling blocks: lesion = projection / option A
    assert m(x).shape == (2, 4)
    m.set_blocks([False, True, True])
    ins = m.block_inputs(x)
    assert torch.equal(ins[1], ins[0])
    assert m(x).shape == (2, 4)


def test_block_mask_survives_a_state_dict_round_trip():
    m = _resnet()
    m.set_blocks([False, True, True])
    fresh = _resnet()
    fresh.load_state_dict(m.state_dict())
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(fresh.eval()(x), m.eval()(x)) and fresh._active == (False, True, True)


def test_resnet_spec_builds_every_variant():
    for block in ("post_activation", "pre_activation"):
        for shortcut in ("identity", "none"):
            spec = ResNetSpec(family="resnet_cnn", depth=8, widths=[4, 8], block=block, shortcut=shortcut)
            m = build_model(spec, DataInfo(task="classification", in_shape=(1, 8, 8), n_outputs=3))
            m(torch.randn(2, 1, 8, 8)).sum().backward()


# ----------------------------------------------------------------------------- densenet_cnn
def test_densenet_channels_grow_by_k_and_compress_at_transitions():
    spec = DenseNetCNN(family="densenet_cnn", growth_rate=4, block_layers=[2, 3], init_channels=6, compression=0.5)
    m = build_model(spec, DataInfo(task="classification", in_shape=(3, 8, 8), n_outputs=5))
    assert m.block1.out_channels == 6 + 2 * 4 and m.trans1.conv.out_channels == 7
    assert m.block2.out_channels == 7 + 3 * 4 and m.fc.in_features == 19
    assert m.block1.layer1.conv1.out_channels == 16  # bottleneck 4k
    out = m(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 5)
    out.sum().backward()
    plain = DenseNetCNN(family="densenet_cnn", growth_rate=4, block_layers=[2], bottleneck=False, init_channels=6)
    assert build_model(plain, DataInfo(task="classification", in_shape=(1, 8, 8), n_outputs=2))(torch.randn(1, 1, 8, 8)).shape == (1, 2)


# ----------------------------------------------------------------------------- unet
@pytest.mark.parametrize("size", [16, 12])
def test_unet_outputs_per_pixel_logits_with_and_without_long_skips(size):
    info = DataInfo(task="segmentation", in_shape=(1, size, size), n_outputs=3)
    with_skips = build_model(UNet(family="unet", depth=2, base_channels=4), info)
    without = build_model(UNet(family="unet", depth=2, base_channels=4, long_skips=False), info)
    x = torch.randn(2, 1, size, size)
    assert with_skips(x).shape == without(x).shape == (2, 3, size, size)
    assert with_skips.dec0.conv1.in_channels == 8 and without.dec0.conv1.in_channels == 4
    assert with_skips.dec1.conv1.in_channels == 16 and without.dec1.conv1.in_channels == 8
    without(x).sum().backward()


def test_every_image_family_names_its_weight_layers():
    info = DataInfo(task="classification", in_shape=(3, 16, 16), n_outputs=3)
    specs = [
        VanillaCNN(family="vanilla_cnn", width_mult=0.25), SkipCNN(family="skip_cnn", width_mult=0.25),
        WidenedCNN(family="widened_cnn", width_mult=0.25), ResNetSpec(family="resnet_cnn", depth=8, widths=[4, 8]),
        DenseNetCNN(family="densenet_cnn", growth_rate=2, block_layers=[1, 1], init_channels=4),
        UNet(family="unet", depth=2, base_channels=2),
    ]
    for spec in specs:
        m = build_model(spec, DataInfo(task="segmentation", in_shape=(3, 16, 16), n_outputs=3) if spec.family == "unet" else info)
        mods = dict(m.named_modules())
        names = m.layer_names()
        assert names and all(hasattr(mods[n], "weight") for n in names), spec.family
        assert len(names) == len(set(names))


def test_cnn_example_specs_validate_and_have_small_twins():
    import json
    from pathlib import Path

    from skipcore.spec import ExperimentSpec

    root = Path(__file__).resolve().parents[2] / "examples" / "specs"
    prefixes = ("seed001_cifar10_", "he2016_", "li2018_", "unet_", "huang2016_", "residual_scaling")
    files = [f for f in sorted(root.glob("*.json")) if f.name.startswith(prefixes)]
    assert len(files) == 22
    for f in files:
        spec = ExperimentSpec.model_validate(json.loads(f.read_text()))
        if not f.stem.endswith("_small"):
            assert (root / f"{f.stem}_small.json").is_file(), f.name
        else:
            assert spec.data.name in ("fake_images", "synthetic_segmentation"), f.name
