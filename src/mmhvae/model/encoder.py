"""One encoder per modality: residual blocks with squeeze-excitation at every scale, stride-2
convolutions between scales, and the skip features of every scale for the posterior experts.

Scales i = 0 (full size, finest) .. S-1 (coarsest); ``channels[i]`` wide at side
``image_size / 2**i``.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.errors import ConfigError
from mmhvae.model.layers import Downsample, ResidualBlock, conv


def encoder_blocks(config: ModelConfig) -> tuple[int, ...]:
    """``model.encoder_blocks`` per scale, finest first (one number means every scale)."""
    blocks = config.encoder_blocks
    return (blocks,) * len(config.channels) if isinstance(blocks, int) else tuple(blocks)


def input_channels(config: ModelConfig) -> int:
    """Channels of one modality's input: C for the slice, times 2 * context + 1 with its
    neighbours (``model.context``). The one place the width is derived, so the one check of
    the setting's sign (every network that reads neighbours builds its stem from it)."""
    if config.context < 0:
        raise ConfigError(f"model.context must be >= 0 (slices on each side), got {config.context}")
    return config.in_channels * (2 * config.context + 1)


class Encoder(nn.Module):
    """x (B, C * (2 * context + 1), H, W) -> skip features [(B, channels[i], H / 2**i,
    W / 2**i) for every scale i]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dims, channels = config.spatial_dims, config.channels
        self.stem = conv(dims, input_channels(config), channels[0], 3)
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(dims, width, config.se_reduction) for _ in range(n)))
            for width, n in zip(channels, encoder_blocks(config), strict=True)
        )
        self.downs = nn.ModuleList(
            Downsample(dims, channels[i], channels[i + 1]) for i in range(len(channels) - 1)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        skips = []
        h = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i > 0:
                h = self.downs[i - 1](h)
            h = stage(h)
            skips.append(h)
        return skips
