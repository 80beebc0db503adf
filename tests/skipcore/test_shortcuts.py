"""skipcore.nn.shortcuts: identity / projection / none and the scaled residual sum."""

import pytest
import torch

from skipcore.nn.shortcuts import Shortcut, residual_sum

torch.set_num_threads(1)


def test_identity_returns_its_input_object():
    x = torch.randn(2, 4, 5, 5)
    assert Shortcut(kind="identity", in_channels=4, out_channels=4)(x) is x


def test_projection_is_a_strided_1x1_conv_with_bn():
    s = Shortcut.for_shapes(shortcut="identity", in_channels=4, out_channels=8, stride=2)
    assert s.kind == "projection" and s.conv.kernel_size == (1, 1) and s.conv.stride == (2, 2)
    assert s(torch.randn(2, 4, 6, 6)).shape == (2, 8, 3, 3)


def test_none_has_no_path_and_no_parameters():
    s = Shortcut.for_shapes(shortcut="none", in_channels=4, out_channels=8, stride=2)
    assert s(torch.randn(1, 4, 4, 4)) is None and not list(s.parameters())


def test_identity_with_mismatched_shapes_raises_naming_them():
    with pytest.raises(ValueError, match="4->8"):
        Shortcut(kind="identity", in_channels=4, out_channels=8)
    with pytest.raises(ValueError, match="'bogus'"):
        Shortcut(kind="bogus", in_channels=4, out_channels=4)


def test_residual_sum_scales_only_the_branch():
    x, fx = torch.randn(3, 2), torch.randn(3, 2)
    assert torch.allclose(residual_sum(x, fx, 0.25), x + 0.25 * fx)
    assert torch.equal(residual_sum(None, fx), fx)
