"""KL term of the ELBO: per level, and its warm-up weight."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def kl_per_level(kl_maps: Sequence[Tensor]) -> Tensor:
    """KL per example and level from elementwise analytic KL maps.

    kl_maps[l]: (N, ...) the elementwise KL(q(z_l | z_>l, x_S) || p(z_l | z_>l)) of level l,
    evaluated at the sampled coarser groups z_>l. Returns (N, L): each map summed over its
    latent dimensions (channels and space).
    """
    return torch.stack([kl.flatten(1).sum(dim=1) for kl in kl_maps], dim=1)


def kl_warmup(step: int, warmup_steps: int, beta: float) -> float:
    """beta * min(1, step / warmup_steps): linear warm-up of the KL weight (beta at once
    when warmup_steps <= 0)."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, max(0, step) / warmup_steps)
