"""A prepared case through a method, slice batch by slice batch.

Shapes: M modalities, S axial slices, H W in-plane, B slices per batch, C channels (1).
The method sees images in [-1, 1] (background and absent modalities -1); what comes back is
in the normalised space of EVALUATION.md, [0, 1], zero outside the brain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmhvae.data.dataset import context_slices
from mmhvae.methods.base import Method, synthesize_batched_patterns
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


def model_inputs(
    images: np.ndarray, given: np.ndarray, mask: np.ndarray, selected: np.ndarray, context: int
) -> np.ndarray:
    """What a method reads for the ``selected`` slices: images (M, S, H, W) in [0, 1], given
    (M,) bool, mask (S, H, W) bool -> (N, M, 2k + 1, H, W) float32 in [-1, 1] (a view): each
    selected slice s with its neighbours s - k .. s + k (``context`` k, clipped to the
    volume), each under its own brain mask, as the training slices are (data/dataset.py)."""
    index = np.stack([context_slices(int(s), context, len(mask)) for s in selected])  # (N, 2k+1)
    flat = to_model_range(images[:, index.ravel()], given, mask[index.ravel()])
    return flat.reshape(len(images), *index.shape, *images.shape[2:]).transpose(1, 0, 2, 3, 4)


def brain_slices(mask: np.ndarray) -> np.ndarray:
    """Indices of the axial slices of ``mask (S, H, W)`` that hold brain (the others give 0)."""
    return np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))


def synthesize_slices(
    method: Method,
    images: np.ndarray,
    present: Sequence[bool] | np.ndarray,
    mask: np.ndarray,
    options: SamplingOptions,
    progress: Callable[[int], object] | None = None,
) -> SliceSynthesis:
    """Every modality of ``method`` from the ``present`` ones, for all slices of one case.

    images (M, S, H, W) in [0, 1] (absent modalities are ignored whatever they hold),
    present (M,) bool, mask (S, H, W) bool. Slices without brain are not computed (their
    output is 0, as the background of every slice). Sampling follows ``options``, from a
    generator seeded with ``options.seed``, so a call is repeatable and leaves the caller's
    RNG untouched. The std is per voxel over ``options.samples`` samples, halved into
    [0, 1] units; None for one sample. ``progress(slices)`` follows the slice batches.
    """
    return synthesize_slices_patterns(method, images, [present], mask, options, progress)[0]


def synthesize_slices_patterns(
    method: Method,
    images: np.ndarray,
    presents: Sequence[Sequence[bool] | np.ndarray],
    mask: np.ndarray,
    options: SamplingOptions,
    progress: Callable[[int], object] | None = None,
) -> list[SliceSynthesis]:
    """:func:`synthesize_slices` for several input patterns of one case at once: result p
    equals ``synthesize_slices(method, images, presents[p], mask, options)``, while the work
    the patterns share (MMHVAE's encoders) is done once per slice batch. The evaluator asks
    a case for every input subset this way. ``progress(slices)`` follows the slice batches.
    """
    patterns = [np.asarray(present, dtype=bool) for present in presents]
    n_mod, n_slices, height, width = images.shape
    for present_np in patterns:
        if present_np.shape != (n_mod,) or n_mod != len(method.modalities):
            raise ValueError(
                f"images hold {n_mod} modalities and present {present_np.shape}; the method "
                f"expects {len(method.modalities)} ({', '.join(method.modalities)})"
            )
        if not present_np.any():
            raise ValueError("at least one modality must be present to synthesise from")
    shape = (n_mod, n_slices, height, width)
    results = [
        SliceSynthesis(
            mean=np.zeros(shape, np.float32),
            std=np.zeros(shape, np.float32) if options.samples > 1 else None,
        )
        for _ in patterns
    ]
    selected = brain_slices(mask)
    if not len(selected):
        return results
    device = torch.device(options.device)
    given = np.logical_or.reduce(patterns)  # every pattern reads only its own modalities
    batch = torch.from_numpy(model_inputs(images, given, mask, selected, method.context))
    batch = batch.to(device)  # (N, M, 2k + 1, H, W): each slice with its neighbours
    slice_mask = torch.from_numpy(mask[selected]).to(device).unsqueeze(1)  # (N, 1, H, W)
    rows = [
        torch.from_numpy(present_np).to(device).expand(len(selected), n_mod)
        for present_np in patterns
    ]
    generators = [torch.Generator(device=device).manual_seed(options.seed) for _ in patterns]
    with seeded(options.seed, device), torch.inference_mode():
        outs = synthesize_batched_patterns(  # only missing modalities are read of it
            method, batch, rows, slice_mask, options, generators, progress, False
        )
    for out, result in zip(outs, results, strict=True):
        mean = to_unit_range(out.mean[:, :, 0], slice_mask)  # (N, M, H, W)
        result.mean[:, selected] = mean.permute(1, 0, 2, 3).cpu().numpy()  # (M, N, H, W)
        if result.std is not None and out.std is not None:
            std = out.std[:, :, 0] / 2.0 * slice_mask  # (N, M, H, W)
            result.std[:, selected] = std.permute(1, 0, 2, 3).cpu().numpy()
    return results
