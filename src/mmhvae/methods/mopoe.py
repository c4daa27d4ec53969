"""MoPoE (Sutter et al. 2021): a flat latent and a mixture of products of experts.

Training: K components per example, each a subset drawn uniformly from the non-empty subsets
of the observed set O; each component (a product of its experts) reconstructs every observed
modality. Synthesis from S is the product of the experts of S.
"""

from __future__ import annotations

from torch import Tensor

from mmhvae.config import Config
from mmhvae.methods.base import Objective
from mmhvae.methods.subset_vae import SubsetVAE
from mmhvae.methods.subsets import random_subsets


class MoPoEMethod(SubsetVAE):
    name = "mopoe"
    flat = True

    def components(self, present: Tensor, k: int) -> Tensor:
        return random_subsets(present, k)  # (B, K, M)


def build_mopoe(config: Config, modalities: tuple[str, ...]) -> MoPoEMethod:
    return MoPoEMethod(config.model, tuple(modalities), Objective.from_config(config.train))
