"""The multimodal VAEs: MMHVAE, its ablations and the VAE baselines, on one network and one
objective.

Every multimodal VAE here is the MMHVAE network (model/network.py: the same per-modality
encoders, product of experts, top-down path and decoder heads) trained with the one negative
ELBO of losses/elbo.py. They differ in two choices only:

* which input subsets S the K training components use (``components(present, k)``), and
* which modalities each component must reconstruct (``recon_weights``): every observed
  modality (MMHVAE, MMVAE, MoPoE, MHVAE) or only those of its own subset (MVAE).

With ``model.residual_floor`` the decoders correct a floor instead of drawing the image
from nothing: each given modality's own image, and for the others the per-voxel regression of
the given ones (methods/regression.py), fitted in closed form before the first step
(:meth:`SubsetVAE.prefit`) and kept fixed. Each training component gets the floor of its own
subset, synthesis the floor of the given modalities.

A *flat* variant switches every spatial latent group off (``latent_channels`` all 0), so the
only latent is the global top vector and the decoder is the same top-down upsampling path
without spatial latents. The comparison therefore isolates the posterior.

Shapes: B batch, K components, M modalities, C channels, H W space, L latent levels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import torch
from torch import Tensor

from mmhvae.config import ModelConfig
from mmhvae.losses.elbo import ELBOTerms, elbo_terms
from mmhvae.methods.base import Method, Objective, Sampler, SharedSampler, inputs_of
from mmhvae.methods.regression import RegressionMethod
from mmhvae.model.network import MMHVAE, component_experts, per_component


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
        super().__init__(modalities, objective, config.context)
        self.net = MMHVAE(flat_config(config) if self.flat else config, self.modalities)
        self.floor = RegressionMethod(self.modalities) if config.residual_floor else None

    @property
    def prefits(self) -> bool:
        return self.floor is not None

    def prefit(self, batches: Iterable[dict[str, Tensor]]) -> None:
        if self.floor is not None:
            self.floor.fit_closed_form(batches)

    @torch.no_grad()
    def floor_images(self, images: Tensor, given: Tensor, mask: Tensor) -> Tensor | None:
        """What the decoders correct: images (N, M, C, ...), given (N, M) bool, mask (N, 1, ...)
        -> (N, M, C, ...): each given modality's own image, the regression of the given ones
        for the others (-1 for a row given nothing); None without ``model.residual_floor``."""
        if self.floor is None:
            return None
        guess = torch.full_like(images, -1.0)
        rows = given.any(dim=1)  # (N,)
        if bool(rows.any()):
            guess[rows] = self.floor.sampler(images[rows], given[rows], mask[rows], 0.0, None)()
        keep = given.reshape(*given.shape, *([1] * (images.ndim - 2)))  # (N, M, 1, ...)
        return torch.where(keep, images, guess)

    def components(self, present: Tensor, k: int) -> Tensor:
        """present (B, M) bool -> the K input subsets (B, K, M) bool, each non-empty inside O."""
        raise NotImplementedError

    def recon_weights(self, subsets: Tensor, present: Tensor) -> Tensor:
        """(B, K, M) subsets, (B, M) present -> (K, B, M) weights of the L1 terms."""
        own = subsets if self.recon_own_subset else present[:, None, :].expand_as(subsets)
        if self.floor is not None:
            # a given modality's floor is its own image: reconstructing it only teaches the
            # heads to keep the correction at zero, which they then also do where the floor
            # is the regression (validation's leave-one-out L1 stayed flat to 1e-5 over 240
            # steps): the heads learn from the modalities their component was not given
            own = own.bool() & ~subsets.bool()
        return (own.bool() & present.bool()[:, None, :]).transpose(0, 1)  # (K, B, M)

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        images, present, mask = batch["images"], batch["present"].bool(), batch["mask"]
        subsets = self.components(present, self.objective.components)  # (B, K, M)
        floor = self._component_floor(batch, subsets)
        temperature = self.objective.temperature
        out = self.net(inputs_of(batch), present, subsets, mask, temperature, floor=floor)
        valid = (subsets & present[:, None, :]).any(dim=2).T  # (K, B)
        return elbo_terms(
            out.decoded,
            images,
            self.recon_weights(subsets, present),
            out.kl_examples,
            valid,
            self.objective.kl_weight(step),
        )

    def _component_floor(self, batch: dict[str, Tensor], subsets: Tensor) -> Tensor | None:
        """The floor of every component (K*B, M, C, ...), row k * B + b, or None."""
        if self.floor is None:
            return None
        k = subsets.shape[1]
        given = component_experts(subsets, batch["present"])  # (K*B, M)
        images, mask = per_component(inputs_of(batch), k), per_component(batch["mask"].bool(), k)
        return self.floor_images(images, given, mask)

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        return self.shared_sampler(images, mask, temperature)(present, generator)

    def shared_sampler(
        self, images: Tensor, mask: Tensor, temperature: float, reconstruct_given: bool = True
    ) -> SharedSampler:
        """Each given modality is encoded once for all the input patterns asked of these
        images; the top-down path and the decoders run per pattern, the decoders only for the
        modalities some row lacks unless ``reconstruct_given``."""
        memo: dict[int, list[Tensor]] = {}

        def sampler(present: Tensor, generator: torch.Generator | None) -> Sampler:
            evidence, weight = self.net.condition(images, present, memo)
            floor = self.floor_images(images, present, mask)
            heads = None
            if not reconstruct_given:  # one host sync per pattern and batch: synthesis only
                heads = [int(m) for m in (~present.all(dim=0)).nonzero().flatten()]
            return lambda: self.net.draw(
                evidence, weight, mask, temperature, generator, floor, heads
            )

        return sampler
