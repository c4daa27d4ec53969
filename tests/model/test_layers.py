"""Dimension-agnostic layers."""

import pytest
import torch


@pytest.mark.parametrize("dims", [2, 3])
def test_pointwise_conv_is_the_1x1_convolution(dims: int) -> None:
    from mmhvae.model.layers import Pointwise2d, Pointwise3d, conv

    torch.manual_seed(0)
    layer = conv(dims, 5, 3, 1)
    assert isinstance(layer, (Pointwise2d, Pointwise3d))
    x = torch.randn(2, 5, *([6] * dims), requires_grad=True)
    reference = (torch.nn.functional.conv2d if dims == 2 else torch.nn.functional.conv3d)(
        x, layer.weight, layer.bias
    )
    out = layer(x)
    torch.testing.assert_close(out, reference)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (expected,) = torch.autograd.grad(reference.square().sum(), x)
    torch.testing.assert_close(grad, expected)
    assert set(layer.state_dict()) == {"weight", "bias"}  # checkpoints load either way


@pytest.mark.parametrize(("channels", "groups"), [(4, 1), (8, 1), (16, 2), (64, 8)])
def test_group_norm_has_groups_of_eight_channels(channels: int, groups: int) -> None:
    from mmhvae.model.layers import norm

    assert norm(channels).num_groups == groups
