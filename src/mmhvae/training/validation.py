"""Validation during training: synthesis quality on fixed slices of held-out cases.

Images are compared in [0, 1] units (the model's [-1, 1] mapped by (x + 1) / 2) inside the
brain mask, pooled over the voxels of all validation slices:
  L1 = mean |pred - target|,  PSNR = 10 log10(1 / MSE)  (data range 1).
Two scenarios per modality m: ``loo`` synthesises m from the OTHER present modalities of a
slice (only slices with m and at least one other modality), ``all`` from every present
modality (reconstruction). The validation loss is the mean of every L1 computed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mmhvae.methods.base import Method, inputs_of, synthesize_batched
from mmhvae.methods.sampling import SamplingOptions, seeded


def masked_l1_mse(pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sums over the mask: (sum |p - t|, sum (p - t)^2, voxel count).

    pred, target: (N, C, H, W) in [0, 1]; mask: (N, 1, H, W) bool, broadcast over C.
    """
    weight = mask.expand_as(pred).to(pred.dtype)
    diff = (pred - target) * weight
    return diff.abs().sum(), diff.square().sum(), weight.sum()


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for data range 1; infinite for a perfect match."""
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def _scores(prefix: str, l1_sum: float, sq_sum: float, count: float) -> dict[str, float]:
    if count == 0:
        return {}
    return {f"l1_{prefix}": l1_sum / count, f"psnr_{prefix}": psnr_from_mse(sq_sum / count)}


@torch.no_grad()
def validate(
    method: Method, batch: dict[str, Tensor], options: SamplingOptions
) -> dict[str, float]:
    """L1 and PSNR per modality and scenario, and ``loss``, on the fixed validation slices.

    ``batch``: images (V, M, C, H, W) in [-1, 1], present (V, M) bool, mask (V, 1, H, W) bool,
    on the method's device, sampled with ``options``. Sampling runs under a forked RNG seeded
    with ``options.seed``: the numbers repeat, and the training RNG streams are untouched (so
    resuming stays exact).
    """
    images, present, mask = batch["images"], batch["present"].bool(), batch["mask"].bool()
    source = inputs_of(batch)  # with model.context: the slices and their neighbours
    results: dict[str, float] = {}
    l1_values: list[float] = []
    with seeded(options.seed, images.device):
        everything = synthesize_batched(method, source, present, mask, options).mean
        for m, name in enumerate(method.modalities):
            rows = present[:, m]
            scenario = _scores(
                f"all/{name}",
                *_sums(everything[rows, m], images[rows, m], mask[rows]),
            )
            others = present.clone()
            others[:, m] = False
            rows = present[:, m] & others.any(dim=1)
            if bool(rows.any()):
                pred = synthesize_batched(
                    method, source[rows], others[rows], mask[rows], options
                ).mean
                scenario |= _scores(f"loo/{name}", *_sums(pred[:, m], images[rows, m], mask[rows]))
            results |= scenario
            l1_values += [v for k, v in scenario.items() if k.startswith("l1_")]
    results["loss"] = sum(l1_values) / len(l1_values) if l1_values else math.nan
    return results


def _sums(pred: Tensor, target: Tensor, mask: Tensor) -> tuple[float, float, float]:
    """pred, target: (N, C, H, W) in [-1, 1]; mask: (N, 1, H, W)."""
    l1, sq, count = masked_l1_mse((pred + 1) / 2, (target.float() + 1) / 2, mask)
    return float(l1), float(sq), float(count)
