"""Least-squares GAN terms (Mao et al. 2017) on patch scores.

Scores are any shape with the sample axes first, e.g. (N, M, P): N images, M modalities,
P patches. A real image exists only where a case has the modality: ``real_weight`` (its
shape a prefix of the scores' shape, e.g. (N,) or (N, M), in {0, 1}) masks the rest.
"""

from __future__ import annotations

import torch
from torch import Tensor


def lsgan_generator(fake_scores: Tensor) -> Tensor:
    """mean (D(fake) - 1)^2: the generator wants its samples scored as real."""
    return (fake_scores.float() - 1.0).square().mean()


def generator_adversarial(fake_scores: Tensor) -> Tensor:
    """mean_m mean_{n,p} (D_m(fake)_np - 1)^2 over the modalities of scores (N, M, P): every
    decoded modality, the absent ones included (it is their only training signal in
    incomplete cases). A mean over modalities, like the L1, so that ``train.gan_weight``
    means the same whatever the number of modalities."""
    return torch.stack(
        [lsgan_generator(fake_scores[:, m]) for m in range(fake_scores.shape[1])]
    ).mean()


def lsgan_discriminator(real_scores: Tensor, fake_scores: Tensor, real_weight: Tensor) -> Tensor:
    """0.5 * [ sum_i w_i mean_p (D(real)_ip - 1)^2 / sum_i w_i + mean D(fake)^2 ].

    i runs over the leading ``real_weight.ndim`` axes of ``real_scores``, p over the rest.
    With no real sample at all (sum w = 0) the real half is 0. No host sync.
    """
    weight = real_weight.float()
    if real_scores.shape[: weight.ndim] != weight.shape:
        raise ValueError(
            f"real_weight {tuple(weight.shape)} must match the leading axes of real_scores "
            f"{tuple(real_scores.shape)}"
        )
    squared = (real_scores.float() - 1.0).square()
    per_sample = squared.reshape(*weight.shape, -1).mean(dim=-1)  # (leading axes of w)
    real = (weight * per_sample).sum() / weight.sum().clamp_min(1e-12)
    fake = fake_scores.float().square().mean()
    return 0.5 * (real + fake)
