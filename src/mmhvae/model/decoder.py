"""One decoder head per modality: a few residual blocks on the full-resolution state, a 3x3
conv to the image channels, tanh into [-1, 1], and the background set to -1 (the brain mask)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.model.layers import ResidualBlock, conv, norm


class DecoderHead(nn.Module):
    """h (N, c_0, ...) -> image (N, C, ...) in [-1, 1] (before masking)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dims, width = config.spatial_dims, config.channels[0]
        self.body = nn.Sequential(
            *(
                ResidualBlock(dims, width, config.se_reduction)
                for _ in range(config.decoder_blocks)
            ),
            norm(width),
            nn.SiLU(),
            conv(dims, width, config.in_channels, 3),
        )

    def forward(self, h: Tensor) -> Tensor:
        return torch.tanh(self.body(h))


class Decoders(nn.Module):
    """Every modality's head on the shared state: (N, c_0, ...) -> (N, M, C, ...)."""

    def __init__(self, config: ModelConfig, modalities: tuple[str, ...]) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({m: DecoderHead(config) for m in modalities})

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """mask (N, 1, ...) bool: voxels outside it are -1 in every modality."""
        images = torch.stack([head(h) for head in self.heads.values()], dim=1)  # (N, M, C, ...)
        background = torch.tensor(-1.0, dtype=images.dtype, device=images.device)
        return torch.where(mask[:, None], images, background)
