"""MVAE (Wu and Goodman 2018): a flat latent, a product of experts, a subset-sampled ELBO.

The objective sums the ELBO of the whole observed set O, of each single modality and of
random subsets, where EACH term reconstructs only the modalities of its own subset:

    sum_{S in {O, {1}, ..., {M}, S_1 .. S_{K-2}}} E_{q(z|x_S)} [sum_{m in S} log p(x_m|z)]
                                                   - KL(q(z|x_S) || p(z)),

single modalities that are not observed drop out (zero weight in both terms).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmhvae.config import Config
from mmhvae.methods.base import Objective
from mmhvae.methods.subset_vae import SubsetVAE
from mmhvae.methods.subsets import random_subsets


class MVAEMethod(SubsetVAE):
    name = "mvae"
    flat = True
    recon_own_subset = True

    def components(self, present: Tensor, k: int) -> Tensor:
        """present (B, M) -> (B, 1 + M + max(K - 2, 0), M): O, every single, random subsets."""
        b, m = present.shape
        singles = torch.eye(m, dtype=torch.bool, device=present.device)  # (M, M)
        parts = [present[:, None, :], (singles[None] & present[:, None, :])]  # (B,1,M) (B,M,M)
        if k > 2:
            parts.append(random_subsets(present, k - 2))
        return torch.cat(parts, dim=1)


def build_mvae(config: Config, modalities: tuple[str, ...]) -> MVAEMethod:
    return MVAEMethod(config.model, tuple(modalities), Objective.from_config(config.train))
