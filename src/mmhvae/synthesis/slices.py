"""A prepared case through a method, slice batch by slice batch.

Shapes: M modalities, S axial slices, H W in-plane, B slices per batch, C channels (1).
The method sees images in [-1, 1] (background and absent modalities -1); what comes back is
in the normalised space of EVALUATION.md, [0, 1], zero outside the brain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmhvae.methods.base import Method, synthesize_batched
from mmhvae.methods.sampling import SamplingOptions, seeded


@dataclass
class SliceSynthesis:
    """mean (M, S, H, W) float32 in [0, 1]; std (M, S, H, W) in the same units, or None."""

    mean: np.ndarray
    std: np.ndarray | None


def to_model_range(images: np.ndarray, present: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1]: x' = 2x - 1 inside the brain, -1 outside and for absent modalities.

    images (M, S, H, W), present (M,) bool, mask (S, H, W) bool -> (M, S, H, W) float32.
    """
    out = np.where(mask[None], 2.0 * images - 1.0, -1.0).astype(np.float32)
    out[~np.asarray(present, dtype=bool)] = -1.0
    return out


def to_unit_range(mean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]: y = (x + 1) / 2 clipped, 0 outside the brain. mean (B, M, H, W)."""
    return ((mean + 1.0) / 2.0).clamp(0.0, 1.0) * mask


def brain_slices(mask: np.ndarray) -> np.ndarray:
    """Indices of the axial slices of ``mask (S, H, W)`` that hold brain (the others give 0)."""
    return np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))


def synthesize_slices(
    method: Method,
    images: np.ndarray,
    present: Sequence[bool] | np.ndarray,
    mask: np.ndarray,
    options: SamplingOptions,
) -> SliceSynthesis:
    """Every modality of ``method`` from the ``present`` ones, for all slices of one case.

    images (M, S, H, W) in [0, 1] (absent modalities are ignored whatever they hold),
    present (M,) bool, mask (S, H, W) bool. Slices without brain are not computed (their
    output is 0, as the background of every slice). Sampling follows ``options`` under a
    forked RNG seeded with ``options.seed``, so a call is repeatable and leaves the caller's
    RNG untouched. The std is per voxel over ``options.samples`` samples, halved into
    [0, 1] units; None for one sample.
    """
    present_np = np.asarray(present, dtype=bool)
    n_mod, n_slices, height, width = images.shape
    if present_np.shape != (n_mod,) or n_mod != len(method.modalities):
        raise ValueError(
            f"images hold {n_mod} modalities and present {present_np.shape}; the method "
            f"expects {len(method.modalities)} ({', '.join(method.modalities)})"
        )
    if not present_np.any():
        raise ValueError("at least one modality must be present to synthesise from")
    mean_out = np.zeros((n_mod, n_slices, height, width), dtype=np.float32)
    std_out = np.zeros_like(mean_out) if options.samples > 1 else None
    selected = brain_slices(mask)
    if not len(selected):
        return SliceSynthesis(mean=mean_out, std=std_out)
    device = torch.device(options.device)
    model_images = to_model_range(images[:, selected], present_np, mask[selected])
    batch = torch.from_numpy(model_images).to(device)  # (M, N, H, W)
    batch = batch.permute(1, 0, 2, 3).unsqueeze(2)  # (N, M, C, H, W)
    slice_mask = torch.from_numpy(mask[selected]).to(device).unsqueeze(1)  # (N, 1, H, W)
    present_n = torch.from_numpy(present_np).to(device).expand(len(selected), n_mod)
    with seeded(options.seed, device), torch.inference_mode():
        result = synthesize_batched(method, batch, present_n, slice_mask, options)
    mean = to_unit_range(result.mean[:, :, 0], slice_mask)  # (N, M, H, W)
    mean_out[:, selected] = mean.permute(1, 0, 2, 3).cpu().numpy()  # (M, N, H, W)
    if std_out is not None and result.std is not None:
        std = result.std[:, :, 0] / 2.0 * slice_mask  # (N, M, H, W)
        std_out[:, selected] = std.permute(1, 0, 2, 3).cpu().numpy()
    return SliceSynthesis(mean=mean_out, std=std_out)
