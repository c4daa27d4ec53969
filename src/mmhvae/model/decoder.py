"""One decoder head per modality: a few residual blocks on the full-resolution state, a 3x3
conv to the image channels, tanh into [-1, 1], and the background set to -1 (the brain mask).

With ``model.residual_floor`` the head's output is a correction added to a floor image given
by the caller (clamped to [-1, 1]), and the head sees that floor too: its first convolution
reads the state and the floor together, so the correction can depend on the floor's own
neighbourhood (a per-voxel regression is noisy: the head can learn to smooth and sharpen it)
and not only on what the latent state recalls of it. The last convolution starts at zero, so
the first output is the floor itself."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.model.layers import ResidualBlock, conv, norm


def head_blocks(config: ModelConfig) -> int:
    """The residual blocks of each MMHVAE head: ``model.head_blocks``, else ``decoder_blocks``."""
    return config.decoder_blocks if config.head_blocks is None else config.head_blocks


class DecoderHead(nn.Module):
    """h (N, c_0, ...) -> image (N, C, ...) in [-1, 1] (before masking)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dims, width = config.spatial_dims, config.channels[0]
        # the state and this modality's floor, (N, c_0 + C, ...) -> (N, c_0, ...)
        self.merge = (
            conv(dims, width + config.in_channels, width, 3) if config.residual_floor else None
        )
        self.body = nn.Sequential(
            *(ResidualBlock(dims, width, config.se_reduction) for _ in range(head_blocks(config))),
            norm(width),
            nn.SiLU(),
            conv(dims, width, config.in_channels, 3),
        )
        if config.residual_floor:  # start as the floor: a zero correction
            last = self.body[-1]
            assert isinstance(last, nn.Conv2d | nn.Conv3d)
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)

    def forward(self, h: Tensor, floor: Tensor | None = None) -> Tensor:
        """h (N, c_0, ...), floor (N, C, ...) with ``model.residual_floor`` -> (N, C, ...)."""
        if self.merge is not None:
            if floor is None:
                raise ValueError("model.residual_floor: the decoder head needs the floor image")
            h = self.merge(torch.cat([h, floor.to(h.dtype)], dim=1))
        return torch.tanh(self.body(h))


class Decoders(nn.Module):
    """Every modality's head on the shared state: (N, c_0, ...) -> (N, M, C, ...)."""

    def __init__(self, config: ModelConfig, modalities: tuple[str, ...]) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({m: DecoderHead(config) for m in modalities})
        self.channels = config.in_channels

    def forward(
        self, h: Tensor, mask: Tensor, floor: Tensor | None = None, only: list[int] | None = None
    ) -> Tensor:
        """mask (N, 1, ...) bool: voxels outside it are -1 in every modality. ``floor``
        (N, M, C, ...): the heads' outputs are corrections to it, clamp(floor + head, -1, 1).
        ``only`` (modality indices): run just those heads, the other slots are -1 (synthesis
        that will not read them)."""
        heads = list(self.heads.values())
        outs: dict[int, Tensor] = {}
        for i in range(len(heads)) if only is None else only:
            f = None if floor is None else floor[:, i]
            out = heads[i](h, f)  # (N, C, ...)
            outs[i] = out if f is None else (f.to(out.dtype) + out).clamp(-1.0, 1.0)
        dtype = next(iter(outs.values())).dtype if outs else h.dtype
        blank = h.new_full((h.shape[0], self.channels, *h.shape[2:]), -1.0, dtype=dtype)
        images = torch.stack([outs.get(i, blank) for i in range(len(heads))], dim=1)
        background = torch.tensor(-1.0, dtype=images.dtype, device=images.device)
        return torch.where(mask[:, None], images, background)
