"""Dimension-agnostic building blocks: one code path for 2D (B, C, H, W) and 3D (B, C, D, H, W).

``spatial_dims`` picks the convolution; everything else (GroupNorm, SiLU, squeeze-excitation)
is already agnostic. GroupNorm rather than BatchNorm because the K components of a batch are
different posteriors of the same images (batch statistics would mix them) and rather than
InstanceNorm because it is cheaper at the full-resolution, few-channel layers.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

_CONV: dict[int, type[nn.Conv2d] | type[nn.Conv3d]] = {2: nn.Conv2d, 3: nn.Conv3d}


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A 1x1 convolution as a matmul over channels: x (N, C, ...), weight (O, C, 1, ...) ->
    (N, O, ...). The same numbers as ``F.conv2d``; on the CPU about 4x faster forward and
    backward at the few-channel full-resolution layers, where oneDNN's 1x1 kernels crawl
    (measured: 352 -> 87 ms for (96, 8, 96, 96), BENCHMARKS.md)."""
    out = F.linear(x.movedim(1, -1), weight.flatten(1), bias)  # (N, ..., O)
    return out.movedim(-1, 1)


class Pointwise2d(nn.Conv2d):
    """nn.Conv2d with kernel 1 (same parameters and state dict), computed by :func:`pointwise`."""

    def forward(self, x: Tensor) -> Tensor:
        return pointwise(x, self.weight, self.bias)


class Pointwise3d(nn.Conv3d):
    """nn.Conv3d with kernel 1 (same parameters and state dict), computed by :func:`pointwise`."""

    def forward(self, x: Tensor) -> Tensor:
        return pointwise(x, self.weight, self.bias)


_POINTWISE: dict[int, type[nn.Conv2d] | type[nn.Conv3d]] = {2: Pointwise2d, 3: Pointwise3d}


def conv(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    bias: bool = True,
    padding: int | None = None,
) -> nn.Module:
    """A convolution in ``spatial_dims`` (2 or 3) dimensions, 'same'-padded by default."""
    if spatial_dims not in _CONV:
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if kernel_size == 1 and stride == 1 and groups == 1 and not padding:
        return _POINTWISE[spatial_dims](in_channels, out_channels, 1, bias=bias)
    return _CONV[spatial_dims](
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2 if padding is None else padding,
        groups=groups,
        bias=bias,
    )


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with groups of (at most) 8 channels, at least one group."""
    return nn.GroupNorm(max(1, channels // 8), channels)


class SqueezeExcitation(nn.Module):
    """Channel gating x * sigmoid(W2 silu(W1 mean_space(x))) (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        pooled = x.flatten(2).mean(dim=2)  # (B, C)
        gate = self.fc2(F.silu(self.fc1(pooled))).sigmoid()
        return x * gate.reshape(*gate.shape, *([1] * (x.ndim - 2)))  # (B, C, 1, 1[, 1])


class ResidualBlock(nn.Module):
    """x + SE(conv3(silu(norm(conv3(silu(norm(x))))))): the encoder and decoder block."""

    def __init__(self, spatial_dims: int, channels: int, se_reduction: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            norm(channels),
            nn.SiLU(),
            conv(spatial_dims, channels, channels, 3),
            norm(channels),
            nn.SiLU(),
            conv(spatial_dims, channels, channels, 3),
            SqueezeExcitation(channels, se_reduction),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class InvertedResidualCell(nn.Module):
    """NVAE's top-down cell: x + SE(1x1(silu(norm(dw3x3(silu(norm(1x1(norm(x))))))))).

    The 1x1 convs widen to ``expansion * channels`` around a depthwise 3x3 (NVAE uses 5x5;
    3x3 is cheaper at full resolution and the hierarchy already gives a large receptive field).
    """

    def __init__(
        self, spatial_dims: int, channels: int, expansion: int = 3, se_reduction: int = 4
    ) -> None:
        super().__init__()
        wide = channels * expansion
        self.body = nn.Sequential(
            norm(channels),
            conv(spatial_dims, channels, wide, 1),
            norm(wide),
            nn.SiLU(),
            conv(spatial_dims, wide, wide, 3, groups=wide),
            norm(wide),
            nn.SiLU(),
            conv(spatial_dims, wide, channels, 1),
            SqueezeExcitation(channels, se_reduction),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution: halves every spatial side, changes the width."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = conv(spatial_dims, in_channels, out_channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """x2 upsampling to a new width: 1x1 conv at the coarse scale, nearest x2, depthwise 3x3.

    Mixing channels before upsampling and smoothing with a depthwise conv after costs about a
    tenth of a full 3x3 conv at the fine scale, where most of the top-down time is spent.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mix = conv(spatial_dims, in_channels, out_channels, 1)
        self.smooth = conv(spatial_dims, out_channels, out_channels, 3, groups=out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.smooth(F.interpolate(self.mix(x), scale_factor=2.0, mode="nearest"))
