"""MMHVAE as a :class:`Method`: the mixture-of-products ELBO estimated with K sampled subsets
per example (DESIGN.md section 3), and synthesis from any subset of the modalities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mmhvae.config import Config, ModelConfig
from mmhvae.losses.reconstruction import l1_observed
from mmhvae.methods.base import GeneratorOutput, Method, Synthesis
from mmhvae.model.subsets import sample_subsets

if TYPE_CHECKING:
    from mmhvae.model.network import MMHVAE


class MMHVAEMethod(Method):
    """The hierarchical mixture of products of experts; ``self.net`` is the generator."""

    name = "mmhvae"

    def __init__(self, config: ModelConfig, modalities: tuple[str, ...]) -> None:
        super().__init__(modalities)
        # Imported here: model/network.py returns methods.base.Synthesis, and the registry
        # imports this module, so a top-level import would be circular.
        from mmhvae.model.network import MMHVAE

        self.net: MMHVAE = MMHVAE(config, self.modalities)

    def generator_output(
        self, images: Tensor, present: Tensor, mask: Tensor, components: int
    ) -> GeneratorOutput:
        """images (B, M, C, ...), present (B, M), mask (B, 1, ...) -> losses and the fakes.

        Components: all observed, one observed modality, then random non-empty subsets.
        """
        subsets = sample_subsets(present, components)  # (B, K, M)
        out = self.net(images, present, subsets, mask)
        k, b = out.decoded.shape[:2]
        return GeneratorOutput(
            recon=l1_observed(out.decoded, images, present),
            kl=out.kl.sum(),
            kl_levels=out.kl,
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
        """Every modality from the present ones (see :meth:`MMHVAE.synthesize`)."""
        return self.net.synthesize(images, present, mask, temperature, n_samples, generator)


def build_mmhvae(config: Config, modalities: tuple[str, ...]) -> MMHVAEMethod:
    """The registry's builder: MMHVAE with ``config.model`` over ``modalities``."""
    return MMHVAEMethod(config.model, tuple(modalities))
