"""Residual networks' options: residual scaling at initialisation (not a forward multiplier),
stochastic depth that drops whole blocks per mini-batch without computing them (Huang et al. 2016)
or per-sample drop-path, and the spec's rule that zero-initialised branches need a shortcut."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from skipcore.models.resnet import ResNetCNN
from skipcore.models.resnet_mlp import ResNetMLP
from skipcore.spec.models import ResNetCNN as ResNetCNNSpec

torch.set_num_threads(1)


def _mlp(seed=0, **kw):
    torch.manual_seed(seed)
    return ResNetMLP(in_features=3, out_features=2, depth=kw.pop("depth", 4), width=6, **kw)


def _cnn(seed=0, **kw):
    torch.manual_seed(seed)
    return ResNetCNN(in_channels=3, n_classes=4, depth=8, widths=(4, 8, 8), **kw)


# ------------------------------------------------------------------ residual scaling at init
@pytest.mark.parametrize("init", ["he", "default"])
def test_residual_scale_multiplies_the_last_branch_layer_at_init_and_nothing_else(init):
    plain, scaled = _mlp(init=init), _mlp(init=init, residual_scale=0.1)
    for (_, b1), (_, b2) in zip(plain.blocks(), scaled.blocks()):
        assert torch.equal(b2.fc2.weight, 0.1 * b1.fc2.weight)
        assert torch.equal(b2.fc2.bias, 0.1 * b1.fc2.bias)
        assert torch.equal(b2.fc1.weight, b1.fc1.weight)
    # the forward has no multiplier: with the scaled weights, a = 1 computes the same function
    same = _mlp(init=init)
    same.load_state_dict(scaled.state_dict())
    x = torch.randn(5, 3)
    assert torch.equal(same(x), scaled(x))
    _, blk = scaled.blocks()[0]
    h = scaled.input(x)
    assert torch.equal(blk.branch(h), blk.fc2(blk.act(blk.fc1(blk.act(h)))))


@pytest.mark.parametrize("block,last", [("post_activation", "bn2.weight"), ("pre_activation", "conv2.weight")])
def test_resnet_cnn_residual_scale_scales_the_branchs_last_layer_at_init(block, last):
    plain, scaled = _cnn(block=block), _cnn(block=block, residual_scale=0.25)
    p, s = plain.state_dict(), scaled.state_dict()
    for name in p:
        want = 0.25 * p[name] if name.endswith(last) and ".skip." not in name else p[name]
        assert torch.equal(s[name], want), name
    same = _cnn(block=block).eval()
    same.load_state_dict(s)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(same(x), scaled.eval()(x))


# ------------------------------------------------------------------ stochastic depth
def _count_branch_calls(blocks, first_layer: str):
    """Per block: a list of (branch computed?, block input, block output), one entry per forward."""
    log = {name: [] for name, _ in blocks}
    called = {name: False for name, _ in blocks}
    hooks = []
    for name, blk in blocks:
        hooks.append(blk.get_submodule(first_layer).register_forward_hook(
            lambda *_a, n=name: called.__setitem__(n, True)))
        hooks.append(blk.register_forward_pre_hook(lambda *_a, n=name: called.__setitem__(n, False)))
        hooks.append(blk.register_forward_hook(
            lambda _m, inp, out, n=name: log[n].append((called[n], inp[0].detach(), out.detach()))))
    return log, hooks


def test_block_mode_drops_whole_blocks_per_batch_without_computing_their_branch():
    m = _mlp(depth=4, stochastic_depth=0.5).train()  # survival 0.875, 0.75, 0.625, 0.5
    log, hooks = _count_branch_calls(m.blocks(), "fc1")
    torch.manual_seed(3)
    n = 800
    for _ in range(n):
        m(torch.randn(8, 3))
    for h in hooks:
        h.remove()
    for (name, blk), p in zip(m.blocks(), [0.875, 0.75, 0.625, 0.5]):
        calls = [c for c, _, _ in log[name]]
        assert len(calls) == n
        rate = sum(calls) / n
        assert abs(rate - p) < 4 * (p * (1 - p) / n) ** 0.5, (name, rate, p)
        for computed, inp, out in log[name]:
            if not computed:  # dropped for the whole batch: the block is the identity
                assert torch.equal(out, inp)
    # inference: every branch, multiplied by its survival probability (Huang et al.'s test rule)
    m.eval()
    _, blk = m.blocks()[3]
    h = torch.randn(4, 6)
    torch.testing.assert_close(blk(h), h + 0.5 * blk.branch(h), rtol=0, atol=1e-6)


def test_drop_path_mode_computes_every_branch_and_drops_per_sample():
    m = _mlp(depth=2, stochastic_depth=0.5, stochastic_depth_mode="drop_path").train()
    log, hooks = _count_branch_calls(m.blocks(), "fc1")
    torch.manual_seed(0)
    for _ in range(50):
        m(torch.randn(16, 3))
    for h in hooks:
        h.remove()
    assert all(c for name, _ in m.blocks() for c, _, _ in log[name])
    m.eval()
    _, blk = m.blocks()[1]
    h = torch.randn(4, 6)
    assert torch.equal(blk(h), h + blk.branch(h))  # inference unscaled: training divided by p


@pytest.mark.parametrize("block", ["post_activation", "pre_activation"])
def test_resnet_cnn_block_mode_skips_dropped_branches(block):
    m = _cnn(block=block, stochastic_depth=0.3).train()
    blocks = m.blocks()
    log, hooks = _count_branch_calls(blocks, "conv1")
    torch.manual_seed(1)
    n = 200
    for _ in range(n):
        m(torch.randn(2, 3, 8, 8))
    for h in hooks:
        h.remove()
    rates = [sum(c for c, _, _ in log[name]) / n for name, _ in blocks]
    assert rates[-1] < 0.5 and rates[0] > 0.6, rates  # survival 0.767 ... 0.3
    for name, blk in blocks:
        for computed, inp, out in log[name]:
            if not computed:
                s = blk.shortcut(inp)
                assert torch.equal(out, s if blk.pre else torch.relu(s))


def test_block_mode_is_reproducible_from_the_torch_seed():
    m = _mlp(depth=6, stochastic_depth=0.5).train()
    x = torch.randn(4, 3)
    torch.manual_seed(7)
    a = [m(x) for _ in range(5)]
    torch.manual_seed(7)
    b = [m(x) for _ in range(5)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))


# ------------------------------------------------------------------ spec rules
def test_zero_init_residual_without_a_shortcut_is_rejected_naming_why():
    with pytest.raises(ValidationError, match="zero_init_residual needs shortcut 'identity'"):
        ResNetCNNSpec(family="resnet_cnn", depth=8, shortcut="none", zero_init_residual=True)
    ResNetCNNSpec(family="resnet_cnn", depth=8, shortcut="identity", zero_init_residual=True)
    ResNetCNNSpec(family="resnet_cnn", depth=8, shortcut="none")


def test_spec_defaults_are_block_mode_and_init_time_scaling():
    s = ResNetCNNSpec(family="resnet_cnn", depth=8)
    assert s.stochastic_depth_mode == "block" and s.residual_scale == 1.0 and s.branch_multiplier == 1.0
    with pytest.raises(ValidationError, match="stochastic_depth_mode"):
        ResNetCNNSpec(family="resnet_cnn", depth=8, stochastic_depth_mode="row")


def test_a_block_mode_run_resumed_from_a_checkpoint_is_bit_identical():
    from skipcore.data.synthetic import sine
    from skipcore.spec.data import Sine
    from skipcore.spec.train import TrainParams
    from skipcore.train import ListReporter, fit
    from skipcore.train import checkpoint as ckpt

    data = sine(Sine(name="sine", n_train=64, n_val=16), seed=0)
    train = TrainParams(epochs=4, batch_size=16, lr=3e-3, checkpoint_every=2)

    def model():
        torch.manual_seed(0)
        return ResNetMLP(in_features=1, out_features=1, depth=6, width=8, stochastic_depth=0.5)

    straight = ListReporter()
    fit(model(), data, train, reporter=straight, seed=2)
    first = ListReporter(stop_after=2)
    fit(model(), data, train, reporter=first, seed=2)
    second = ListReporter()
    fit(model(), data, train, reporter=second, seed=2, resume=ckpt.load(first.checkpoints[2]))
    assert first.history("train_loss") + second.history("train_loss") == straight.history("train_loss")
