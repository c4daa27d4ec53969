"""A deterministic fake method for the synthesis tests: every modality is the mean of the
present images, plus ``temperature`` times Gaussian noise (so samples vary with temperature)."""

from __future__ import annotations

import torch
from torch import Tensor

from mmhvae.methods.base import Method, Synthesis


class MeanOfPresent(Method):
    name = "mean-of-present"

    def __init__(self, modalities: tuple[str, ...]) -> None:
        super().__init__(modalities)
        self.calls: list[int] = []  # batch size of every call

    def synthesize(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float = 0.7,
        n_samples: int = 1,
    ) -> Synthesis:
        self.check_inputs(present)
        self.calls.append(images.shape[0])
        weight = present.float()[:, :, None, None, None]  # (B, M, 1, 1, 1)
        mean = (images * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True)
        mean = mean.expand_as(images)  # (B, M, C, H, W)
        samples = mean + temperature * torch.randn((n_samples, *images.shape))
        samples = torch.where(mask[:, None], samples.clamp(-1, 1), torch.tensor(-1.0))
        std = samples.std(0, unbiased=False) if n_samples > 1 else None
        return Synthesis(mean=samples.mean(0), std=std)
