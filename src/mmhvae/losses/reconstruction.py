"""Reconstruction term: the Laplace likelihood with a fixed scale, i.e. an L1 loss."""

from __future__ import annotations

from torch import Tensor


def l1_observed(decoded: Tensor, target: Tensor, present: Tensor) -> Tensor:
    """Mean L1 of every observed modality from every component.

    decoded (K, B, M, C, ...), target (B, M, C, ...), present (B, M) bool. With
    e_kbm = mean_voxels |decoded_kbm - target_bm| and o_bm = present_bm,

        loss = sum_{k,b,m} o_bm e_kbm / (K * sum_{b,m} o_bm).

    Absent modalities weigh nothing, whatever their target holds; no host sync.
    """
    k = decoded.shape[0]
    error = (decoded.float() - target.float()[None]).abs().flatten(3).mean(dim=3)  # (K, B, M)
    weight = present.to(error.dtype)  # (B, M)
    return (error * weight).sum() / (k * weight.sum()).clamp_min(1.0)
