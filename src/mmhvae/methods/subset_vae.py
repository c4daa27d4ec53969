"""The multimodal VAEs: MMHVAE, its ablations and the VAE baselines, on one network and one
objective.

Every multimodal VAE here is the MMHVAE network (model/network.py: the same per-modality
encoders, product of experts, top-down path and decoder heads) trained with the one negative
ELBO of losses/elbo.py. They differ in two choices only:

* which input subsets S the K training components use (``components(present, k)``), and
* which modalities each component must reconstruct (``recon_weights``): every observed
  modality (MMHVAE, MMVAE, MoPoE, MHVAE) or only those of its own subset (MVAE).

A *flat* variant switches every spatial latent group off (``latent_channels`` all 0), so the
only latent is the global top vector and the decoder is the same top-down upsampling path
without spatial latents. The comparison therefore isolates the posterior.

Shapes: B batch, K components, M modalities, C channels, H W space, L latent levels.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from mmhvae.config import ModelConfig
from mmhvae.losses.elbo import ELBOTerms, elbo_terms
from mmhvae.methods.base import Method, Objective, Sampler, SharedSampler
from mmhvae.model.network import MMHVAE


def flat_config(config: ModelConfig) -> ModelConfig:
    """``config`` with every spatial latent group off: the top vector is the only latent."""
    return dataclasses.replace(config, latent_channels=(0,) * len(config.latent_channels))


class SubsetVAE(Method):
    """A multimodal VAE on the MMHVAE network; subclasses choose the components.

    ``flat`` switches the spatial latent groups off; ``recon_own_subset`` makes every component
    reconstruct only its own input modalities (MVAE) instead of every observed one.
    Synthesis is the (hierarchical) product of the present modalities' experts.
    """

    flat: bool = False
    recon_own_subset: bool = False

    def __init__(
        self, config: ModelConfig, modalities: tuple[str, ...], objective: Objective | None = None
    ) -> None:
        super().__init__(modalities, objective)
        self.net = MMHVAE(flat_config(config) if self.flat else config, self.modalities)

    def components(self, present: Tensor, k: int) -> Tensor:
        """present (B, M) bool -> the K input subsets (B, K, M) bool, each non-empty inside O."""
        raise NotImplementedError

    def recon_weights(self, subsets: Tensor, present: Tensor) -> Tensor:
        """(B, K, M) subsets, (B, M) present -> (K, B, M) weights of the L1 terms."""
        own = subsets if self.recon_own_subset else present[:, None, :].expand_as(subsets)
        return (own.bool() & present.bool()[:, None, :]).transpose(0, 1)  # (K, B, M)

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        images, present, mask = batch["images"], batch["present"].bool(), batch["mask"]
        subsets = self.components(present, self.objective.components)  # (B, K, M)
        out = self.net(images, present, subsets, mask)
        valid = (subsets & present[:, None, :]).any(dim=2).T  # (K, B)
        return elbo_terms(
            out.decoded,
            images,
            self.recon_weights(subsets, present),
            out.kl_examples,
            valid,
            self.objective.kl_weight(step),
        )

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        return self.shared_sampler(images, mask, temperature)(present, generator)

    def shared_sampler(self, images: Tensor, mask: Tensor, temperature: float) -> SharedSampler:
        """Each given modality is encoded once for all the input patterns asked of these
        images; the top-down path and the decoders run per pattern."""
        memo: dict[int, list[Tensor]] = {}

        def sampler(present: Tensor, generator: torch.Generator | None) -> Sampler:
            skips, weight = self.net.condition(images, present, memo)
            return lambda: self.net.draw(skips, weight, mask, temperature, generator)

        return sampler
