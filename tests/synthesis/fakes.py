"""A fake method for the synthesis tests: every modality is the mean of the present images,
plus ``temperature`` times Gaussian noise (so samples vary with temperature)."""

from __future__ import annotations

import torch
from torch import Tensor

from mmhvae.methods.base import Method, Sampler


class MeanOfPresent(Method):
    name = "mean-of-present"

    def __init__(self, modalities: tuple[str, ...]) -> None:
        super().__init__(modalities)
        self.calls: list[int] = []  # batch size of every synthesis call

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        self.calls.append(images.shape[0])
        weight = present.float()[:, :, None, None, None]  # (B, M, 1, 1, 1)
        mean = (images * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True)
        mean = mean.expand_as(images)  # (B, M, C, H, W)

        def draw() -> Tensor:
            sample = mean + temperature * torch.randn(images.shape, generator=generator)
            return torch.where(mask[:, None], sample.clamp(-1, 1), torch.tensor(-1.0))

        return draw
