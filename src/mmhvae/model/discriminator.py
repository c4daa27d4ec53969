"""PatchGAN discriminators (Isola et al. 2017), one per modality, in 2D or 3D.

Each output voxel scores one overlapping patch of the input as real (1) or synthetic (0)
under the least-squares loss (losses/gan.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.model.layers import conv, norm


class PatchDiscriminator(nn.Module):
    """x (N, C, ...) -> patch scores (N, 1, ...): ``layers`` stride-2 4x4 convs doubling the
    width from ``channels`` (at most 8x), then a stride-1 4x4 conv and a 4x4 conv to 1."""

    def __init__(self, spatial_dims: int, in_channels: int, channels: int, layers: int) -> None:
        super().__init__()
        modules: list[nn.Module] = [
            _conv4(spatial_dims, in_channels, channels, 2),
            nn.LeakyReLU(0.2),
        ]
        width = channels
        for i in range(1, layers + 1):
            wider = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            modules += [_conv4(spatial_dims, width, wider, stride), norm(wider), nn.LeakyReLU(0.2)]
            width = wider
        modules.append(_conv4(spatial_dims, width, 1, 1))
        self.net = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Discriminators(nn.Module):
    """One patch discriminator per modality (``nn.ModuleDict`` keyed by modality name)."""

    def __init__(self, modalities: tuple[str, ...], config: ModelConfig) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.nets = nn.ModuleDict(
            {
                m: PatchDiscriminator(
                    config.spatial_dims,
                    config.in_channels,
                    config.disc_channels,
                    config.disc_layers,
                )
                for m in self.modalities
            }
        )

    def forward(self, images: Tensor) -> Tensor:
        """images (N, M, C, ...) -> scores (N, M, P): modality m scored by its own network,
        P patches per image."""
        scores = [net(images[:, m]).flatten(1) for m, net in enumerate(self.nets.values())]
        return torch.stack(scores, dim=1)  # (N, M, P)


def _conv4(spatial_dims: int, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """4x4 conv with padding 1 (pix2pix): stride 2 halves the side exactly for even sides."""
    return conv(spatial_dims, in_channels, out_channels, 4, stride=stride, padding=1)
