"""MHVAE (Dorent et al., MICCAI 2023): the hierarchical product of experts WITHOUT the
mixture. The ELBO is that of the whole observed set O plus that of one single observed
modality (two components per example, whatever ``train.components``); each reconstructs
every observed modality. Synthesis is the hierarchical PoE of the given modalities.
"""

from __future__ import annotations

from torch import Tensor

from mmhvae.config import Config
from mmhvae.methods.base import Objective
from mmhvae.methods.subset_vae import SubsetVAE
from mmhvae.methods.subsets import full_and_singles

COMPONENTS = 2  # O and one single modality: the MICCAI 2023 objective


class MHVAEMethod(SubsetVAE):
    name = "mhvae"

    def components(self, present: Tensor, k: int) -> Tensor:
        return full_and_singles(present, COMPONENTS)


def build_mhvae(config: Config, modalities: tuple[str, ...]) -> MHVAEMethod:
    return MHVAEMethod(config.model, tuple(modalities), Objective.from_config(config.train))
