"""MMVAE (Shi et al. 2019): a flat latent and a mixture of UNIMODAL experts.

Training: K components per example, each a single observed modality drawn uniformly from O;
each component reconstructs every observed modality (the cross-modal terms of the mixture
ELBO). Synthesis from S samples the mixture: for each example and each sample a modality of
S is drawn uniformly and the posterior of that modality alone is decoded.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmhvae.config import Config
from mmhvae.methods.base import Synthesis, sample_statistics
from mmhvae.methods.subset_vae import SubsetVAE, random_singles


class MMVAEMethod(SubsetVAE):
    name = "mmvae"
    flat = True

    def components(self, present: Tensor, k: int) -> Tensor:
        return random_singles(present, k)  # (B, K, M)

    @torch.no_grad()
    def synthesize(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float = 0.7,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> Synthesis:
        """Mean and std over ``n_samples`` draws of the mixture (one expert per draw)."""
        self.check_inputs(present)
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")

        def sample() -> Tensor:
            one = random_singles(present.bool(), 1, generator)[:, 0]  # (B, M)
            return self.net.synthesize(images, one, mask, temperature, 1, generator).mean

        return sample_statistics(sample, n_samples)


def build_mmvae(config: Config, modalities: tuple[str, ...]) -> MMVAEMethod:
    return MMVAEMethod(config.model, tuple(modalities))
