"""The objective every VAE method and the U-Net train with: a negative ELBO per voxel and
reconstructed modality.

Shapes: K components (input subsets) per example, B examples, M modalities, C channels,
``...`` space, L latent levels. Component k of example b is the posterior q(z | x_S_kb).

    distortion = sum_{k,b,m} w_kbm e_kbm / sum_{k,b,m} w_kbm,
                 e_kbm = mean_voxels |x^_kbm - x_bm|       (Laplace likelihood, fixed scale)
    rate_l     = sum_{k,b} v_kb KL_kbl / sum_{k,b} v_kb    (nats, summed over latent dims)
    rate       = sum_l rate_l
    rate/voxel = sum_{k,b} v_kb KL_kb / (V n_kb) / sum_{k,b} v_kb,   n_kb = sum_m w_kbm
    loss       = distortion + beta(step) * rate/voxel,      V = voxels of one image

``w`` says which modalities a component must reconstruct (every observed one, or only its
own subset for MVAE), ``v`` which components take part. With beta = 1 the loss is the
negative Laplace ELBO of component (k, b) divided by the V n_kb voxels it reconstructs,
averaged: the KL is shared by every reconstructed voxel, so a case with four observed
modalities pays a quarter of its KL per voxel that a case with one pays. Unnormalised, the
KL in nats (~1e4 for ``tiny`` at the start) swamps the L1 and the posterior collapses.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class ELBOTerms:
    """Named terms of one generator pass; every tensor stays on the device (no sync).

    loss:        scalar, distortion + kl_weight * rate_per_voxel (what the generator
                 minimises before the trainer adds the adversarial term)
    distortion:  scalar, the weighted mean L1
    rate:        scalar, KL in nats summed over levels, mean over the components that count
    rate_levels: (L,) the rate per level, top first (L = 0 for a method without latents)
    rate_per_voxel: scalar, the KL per reconstructed voxel (module docstring), the loss's unit
    fakes:       (K*B, M, C, ...) every decoded modality of every component, for the GAN
    """

    loss: Tensor
    distortion: Tensor
    rate: Tensor
    rate_levels: Tensor
    rate_per_voxel: Tensor
    fakes: Tensor


def kl_weight(step: int, warmup_steps: int, beta: float) -> float:
    """beta(s) = beta * min(1, s / warmup_steps): linear warm-up from 0 at step 0; beta at once
    without warm-up (``warmup_steps <= 0``). Starting at 0 lets the decoder learn to
    reconstruct before the posterior is pulled to the prior."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, max(step, 0) / warmup_steps)


def distortion(decoded: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean L1 of the (component, example, modality) terms that carry weight.

    decoded (K, B, M, C, ...), target (B, M, C, ...), weight (K, B, M) in {0, 1}:
    sum w_kbm e_kbm / sum w_kbm (0 when nothing carries weight). Targets with zero weight
    (absent modalities) are never read into the value, whatever they hold.
    """
    error = (decoded.float() - target.float()[None]).abs().flatten(3).mean(dim=3)  # (K, B, M)
    w = weight.to(error.dtype)
    error = error.where(w > 0, error.new_zeros(()))  # a NaN in an unused slot stays out
    return (error * w).sum() / w.sum().clamp_min(1.0)


def rate(kl: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """KL of the components that take part, averaged over them.

    kl (K, B, L) nats, valid (K, B) in {0, 1} -> (total scalar, per level (L,)).
    """
    v = valid.to(kl.dtype)[..., None]  # (K, B, 1)
    levels = (kl * v).sum(dim=(0, 1)) / v.sum().clamp_min(1.0)  # (L,)
    return levels.sum(), levels


def rate_per_voxel(kl: Tensor, valid: Tensor, weight: Tensor, voxels: int) -> Tensor:
    """The KL per reconstructed voxel, averaged over the components that take part.

    kl (K, B, L) nats, valid (K, B), weight (K, B, M) the reconstruction weights, voxels V of
    one image -> sum_kb v_kb KL_kb / (V n_kb) / sum_kb v_kb with n_kb = sum_m w_kbm (a
    component that reconstructs nothing is divided by 1: it takes no part in the distortion
    and its KL still counts as one image's).
    """
    v = valid.to(kl.dtype)
    n = weight.to(kl.dtype).sum(dim=2).clamp_min(1.0)  # (K, B)
    per_voxel = kl.sum(dim=2) / (voxels * n)  # (K, B)
    return (per_voxel * v).sum() / v.sum().clamp_min(1.0)


def elbo_terms(
    decoded: Tensor,
    target: Tensor,
    recon_weight: Tensor,
    kl: Tensor,
    valid: Tensor,
    beta: float,
) -> ELBOTerms:
    """The negative ELBO per voxel (module docstring) from one pass of K components.

    decoded (K, B, M, C, ...), target (B, M, C, ...), recon_weight (K, B, M), kl (K, B, L),
    valid (K, B), beta the KL weight at this step.
    """
    k, b = decoded.shape[:2]
    voxels = target[0, 0, 0].numel()  # one image of one modality
    dist = distortion(decoded, target, recon_weight)
    total, levels = rate(kl, valid)
    per_voxel = rate_per_voxel(kl, valid, recon_weight, voxels)
    return ELBOTerms(
        loss=dist + beta * per_voxel,
        distortion=dist,
        rate=total,
        rate_levels=levels,
        rate_per_voxel=per_voxel,
        fakes=decoded.reshape(k * b, *decoded.shape[2:]),  # (K*B, M, C, ...)
    )
