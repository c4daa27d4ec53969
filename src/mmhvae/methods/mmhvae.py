"""MMHVAE as a :class:`Method`: the mixture-of-products ELBO estimated with K sampled subsets
per example (DESIGN.md section 3), and synthesis from any subset of the modalities."""

from __future__ import annotations

from torch import Tensor

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.methods.base import Objective
from mmhvae.methods.subset_vae import SubsetVAE
from mmhvae.methods.subsets import random_subsets, sample_subsets


class MMHVAEMethod(SubsetVAE):
    """The hierarchical mixture of products of experts; ``self.net`` is the generator.

    Components (``train.mixture``): "anchored": all observed, one observed modality, then
    random non-empty subsets; "uniform": every one uniform over the non-empty subsets of O.
    Each reconstructs every observed modality.
    """

    name = "mmhvae"

    def components(self, present: Tensor, k: int) -> Tensor:
        if self.objective.mixture == "uniform":
            return random_subsets(present, k)  # (B, K, M)
        return sample_subsets(present, k)  # (B, K, M)


def build_mmhvae(config: Config, modalities: tuple[str, ...]) -> MMHVAEMethod:
    """The registry's builder: MMHVAE with ``config.model`` over ``modalities``."""
    if config.train.components == 1 and config.train.mixture == "anchored":
        # the anchored estimator's first component is the whole observed set O: alone, it
        # never trains synthesis from a subset of what a case has
        raise ConfigError(
            "train.components=1 with train.mixture=anchored trains the whole observed set "
            "only, never a subset of it: set train.mixture=uniform (or components >= 2)"
        )
    return MMHVAEMethod(config.model, tuple(modalities), Objective.from_config(config.train))
