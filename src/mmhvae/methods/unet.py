"""A supervised U-Net imputer (the MM-GAN style, Sharma and Hamarneh 2019), built from the
encoder/decoder blocks of model/layers.py.

The input is every modality's image with the missing ones zero-filled, plus the availability
mask as M constant channels; the output is every modality. Training draws K input subsets S
per example, each uniform over the non-empty subsets of the observed set O, and applies L1 to
every observed modality (there is no latent: KL = 0). The trainer's GAN term applies to
``fakes`` as for the other methods. Synthesis is deterministic (the std of several samples
is 0).

Shapes: B batch, K components, M modalities, C channels, H W space (D H W in 3D).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmhvae.config import Config, ModelConfig
from mmhvae.losses.elbo import ELBOTerms, elbo_terms
from mmhvae.methods.base import Method, Objective, Sampler, inputs_of
from mmhvae.methods.subsets import random_subsets
from mmhvae.model.encoder import input_channels
from mmhvae.model.layers import Downsample, ResidualBlock, Upsample, conv, norm


def unet_inputs(images: Tensor, available: Tensor) -> Tensor:
    """images (N, M, C, ...), available (N, M) bool -> (N, M*C + M, ...): the images with
    absent modalities set to 0, then one constant channel per modality (1 present, 0 absent)."""
    n, m = available.shape
    space = images.shape[3:]
    keep = available.to(images.dtype).reshape(n, m, 1, *([1] * len(space)))  # (N, M, 1, ...)
    filled = torch.where(keep > 0, images, 0.0).reshape(n, -1, *space)  # (N, M*C, ...)
    flags = keep.reshape(n, m, *([1] * len(space))).expand(n, m, *space)  # (N, M, ...)
    return torch.cat([filled, flags], dim=1)


class UNet(nn.Module):
    """(N, M*C + M, ...) -> (N, M, C, ...) in [-1, 1], background -1."""

    def __init__(self, config: ModelConfig, n_modalities: int) -> None:
        super().__init__()
        dims, ch = config.spatial_dims, config.channels
        self.m, self.c = n_modalities, config.in_channels
        self.stem = conv(dims, n_modalities * (input_channels(config) + 1), ch[0], 3)
        self.down_blocks = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(dims, w, config.se_reduction) for _ in range(2)))
            for w in ch
        )
        self.downs = nn.ModuleList(Downsample(dims, ch[i], ch[i + 1]) for i in range(len(ch) - 1))
        self.ups = nn.ModuleList(Upsample(dims, ch[i + 1], ch[i]) for i in range(len(ch) - 1))
        self.merges = nn.ModuleList(conv(dims, 2 * w, w, 1) for w in ch[:-1])
        self.up_blocks = nn.ModuleList(
            nn.Sequential(
                *(ResidualBlock(dims, w, config.se_reduction) for _ in range(config.decoder_blocks))
            )
            for w in ch[:-1]
        )
        self.head = nn.Sequential(
            norm(ch[0]), nn.SiLU(), conv(dims, ch[0], n_modalities * config.in_channels, 3)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (N, M*C + M, ...), mask (N, 1, ...) bool."""
        skips = []
        h = self.stem(x)
        for i, block in enumerate(self.down_blocks):
            if i > 0:
                h = self.downs[i - 1](h)
            h = block(h)
            skips.append(h)
        for i in reversed(range(len(self.ups))):
            h = self.merges[i](torch.cat([self.ups[i](h), skips[i]], dim=1))
            h = self.up_blocks[i](h)
        out = torch.tanh(self.head(h))
        out = out.reshape(out.shape[0], self.m, self.c, *out.shape[2:])  # (N, M, C, ...)
        background = torch.tensor(-1.0, dtype=out.dtype, device=out.device)
        return torch.where(mask[:, None].bool(), out, background)


class UNetMethod(Method):
    name = "unet"

    def __init__(
        self, config: ModelConfig, modalities: tuple[str, ...], objective: Objective | None = None
    ) -> None:
        super().__init__(modalities, objective, config.context)
        self.net = UNet(config, len(self.modalities))

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        """The objective without a latent: the L1 of every observed modality from K inputs
        subsets (the rate is 0 and has no levels)."""
        images, present, mask = batch["images"], batch["present"].bool(), batch["mask"]
        b = images.shape[0]
        subsets = random_subsets(present, self.objective.components)  # (B, K, M)
        k = subsets.shape[1]
        rows = subsets.transpose(0, 1).reshape(k * b, -1)  # (K*B, M): row k * B + b
        inputs = inputs_of(batch)
        stacked = inputs.expand(k, *inputs.shape).reshape(k * b, *inputs.shape[1:])
        masks = mask.expand(k, *mask.shape).reshape(k * b, *mask.shape[1:])
        decoded = self.net(unet_inputs(stacked, rows), masks)  # (K*B, M, C, ...)
        return elbo_terms(
            decoded.reshape(k, b, *decoded.shape[1:]),  # (K, B, M, C, ...)
            images,
            present[None].expand(k, -1, -1),  # (K, B, M)
            images.new_zeros((k, b, 0)),  # no latent levels
            present.new_ones((k, b)),
            0.0,
        )

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        """Deterministic: temperature and generator are ignored (the std of samples is 0)."""
        inputs = unet_inputs(images, present.bool())
        return lambda: self.net(inputs, mask)

    def deterministic(self, temperature: float) -> bool:
        return True


def build_unet(config: Config, modalities: tuple[str, ...]) -> UNetMethod:
    return UNetMethod(config.model, tuple(modalities), Objective.from_config(config.train))
