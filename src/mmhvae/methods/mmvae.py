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
from mmhvae.errors import ConfigError
from mmhvae.methods.base import Method, Objective, Sampler, SharedSampler
from mmhvae.methods.subset_vae import SubsetVAE
from mmhvae.methods.subsets import random_singles
from mmhvae.model.network import absent_as_background


class MMVAEMethod(SubsetVAE):
    name = "mmvae"
    flat = True

    def components(self, present: Tensor, k: int) -> Tensor:
        return random_singles(present, k)  # (B, K, M)

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        """Each draw picks one expert of S per example, uniformly, and decodes its posterior."""
        # encode every modality once (absent ones as background, weighed 0 below)...
        evidence = self.net.encode(absent_as_background(images, present))

        def draw() -> Tensor:  # ...and weigh one expert of S per example and draw
            one = random_singles(present, 1, generator)[:, 0]  # (B, M)
            return self.net.draw(evidence, one.T, mask, temperature, generator)  # weight (M, B)

        return draw

    def shared_sampler(
        self, images: Tensor, mask: Tensor, temperature: float, reconstruct_given: bool = True
    ) -> SharedSampler:
        """Nothing shared between input patterns: MMVAE's own :meth:`sampler` each time (not
        the product-of-experts sampler of the parent class); it decodes every modality."""
        return Method.shared_sampler(self, images, mask, temperature)

    def deterministic(self, temperature: float) -> bool:
        return False  # the expert is drawn even at temperature 0


def build_mmvae(config: Config, modalities: tuple[str, ...]) -> MMVAEMethod:
    if config.model.residual_floor:
        raise ConfigError(
            "model.residual_floor: not available for mmvae (its mixture draws one expert per "
            "sample; the floor is defined for products of experts)"
        )
    return MMVAEMethod(config.model, tuple(modalities), Objective.from_config(config.train))
