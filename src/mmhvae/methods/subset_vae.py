"""The shared machinery of the multimodal-VAE methods (MMHVAE's baselines and ablations).

Every multimodal VAE here is the MMHVAE network (model/network.py: the same per-modality
encoders, product of experts, top-down path and decoder heads) with two choices:

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
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mmhvae.config import ModelConfig
from mmhvae.methods.base import GeneratorOutput, Method, Synthesis

if TYPE_CHECKING:
    from mmhvae.model.network import MMHVAE


def flat_config(config: ModelConfig) -> ModelConfig:
    """``config`` with every spatial latent group off: the top vector is the only latent."""
    return dataclasses.replace(config, latent_channels=(0,) * len(config.latent_channels))


def random_singles(present: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """K single observed modalities per example, each uniform over O, independently.

    present (B, M) bool with a True per row -> (B, K, M) bool, one True per (b, k), inside O.
    """
    b, m = present.shape
    score = torch.rand((b, k, m), generator=generator, device=present.device)
    score = torch.where(present.bool()[:, None, :], score, torch.full_like(score, -1.0))
    return torch.nn.functional.one_hot(score.argmax(dim=2), m).bool()  # (B, K, M)


def random_subsets(present: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """K subsets per example, each uniform over the 2^|O| - 1 non-empty subsets of O.

    present (B, M) bool -> (B, K, M) bool. The draw of model/subsets.py's random components.
    """
    from mmhvae.model.subsets import sample_subsets

    return sample_subsets(present, k + 2, generator)[:, 2:]  # components 2.. are uniform


def weighted_l1(decoded: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean L1 of the (component, example, modality) terms that carry weight.

    decoded (K, B, M, C, ...), target (B, M, C, ...), weight (K, B, M) in {0, 1}. With
    e_kbm = mean_voxels |decoded_kbm - target_bm|,

        loss = sum_{k,b,m} w_kbm e_kbm / sum_{k,b,m} w_kbm.

    With w_kbm = present_bm this is ``losses.reconstruction.l1_observed``.
    """
    error = (decoded.float() - target.float()[None]).abs().flatten(3).mean(dim=3)  # (K, B, M)
    w = weight.to(error.dtype)
    return (error * w).sum() / w.sum().clamp_min(1.0)


def weighted_kl(kl_examples: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """KL of the components that take part, averaged over them.

    kl_examples (K, B, L), valid (K, B) in {0, 1} -> (total scalar, per level (L,)), with
    KL_l = sum_{k,b} v_kb KL_kbl / sum_{k,b} v_kb and total = sum_l KL_l.
    """
    v = valid.to(kl_examples.dtype)[..., None]  # (K, B, 1)
    levels = (kl_examples * v).sum(dim=(0, 1)) / v.sum().clamp_min(1.0)  # (L,)
    return levels.sum(), levels


class SubsetVAE(Method):
    """A multimodal VAE on the MMHVAE network; subclasses choose the components.

    ``flat`` switches the spatial latent groups off; ``recon_own_subset`` makes every component
    reconstruct only its own input modalities (MVAE) instead of every observed one.
    """

    flat: bool = False
    recon_own_subset: bool = False

    def __init__(self, config: ModelConfig, modalities: tuple[str, ...]) -> None:
        super().__init__(modalities)
        # Imported here: model/network.py imports methods.base (circular at module level).
        from mmhvae.model.network import MMHVAE

        self.net: MMHVAE = MMHVAE(flat_config(config) if self.flat else config, self.modalities)

    def components(self, present: Tensor, k: int) -> Tensor:
        """present (B, M) bool -> the K input subsets (B, K, M) bool, each non-empty inside O."""
        raise NotImplementedError

    def recon_weights(self, subsets: Tensor, present: Tensor) -> Tensor:
        """(B, K, M) subsets, (B, M) present -> (K, B, M) weights of the L1 terms."""
        own = subsets if self.recon_own_subset else present[:, None, :].expand_as(subsets)
        return (own.bool() & present.bool()[:, None, :]).transpose(0, 1)  # (K, B, M)

    def generator_output(
        self, images: Tensor, present: Tensor, mask: Tensor, components: int
    ) -> GeneratorOutput:
        """images (B, M, C, ...), present (B, M), mask (B, 1, ...) -> losses and the fakes."""
        subsets = self.components(present.bool(), components)  # (B, K, M)
        out = self.net(images, present, subsets, mask)
        k, b = out.decoded.shape[:2]
        valid = (subsets & present.bool()[:, None, :]).any(dim=2).T  # (K, B)
        kl, kl_levels = weighted_kl(out.kl_examples, valid)
        return GeneratorOutput(
            recon=weighted_l1(out.decoded, images, self.recon_weights(subsets, present)),
            kl=kl,
            kl_levels=kl_levels,
            fakes=out.decoded.reshape(k * b, *out.decoded.shape[2:]),  # (K*B, M, C, ...)
        )

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
        """Every modality from the product of the present modalities' experts."""
        self.check_inputs(present)
        return self.net.synthesize(images, present, mask, temperature, n_samples, generator)
