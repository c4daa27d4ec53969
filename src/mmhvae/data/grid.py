"""Voxel grids: equality within a tolerance, a readable description, resampling.

A grid is a shape ``(X, Y, Z)`` and a voxel-to-world affine ``A`` (4, 4) in mm.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

TRANSLATION_TOL_MM = 1e-3
LINEAR_TOL = 1e-4

Grid = tuple[tuple[int, ...], np.ndarray]  # (shape, affine)


def same_grid(
    shape_a: tuple[int, ...],
    affine_a: np.ndarray,
    shape_b: tuple[int, ...],
    affine_b: np.ndarray,
    translation_tol: float = TRANSLATION_TOL_MM,
    linear_tol: float = LINEAR_TOL,
) -> bool:
    """Equal shapes and affines: ``|t_a - t_b| <= translation_tol`` mm and the 3x3 parts
    (rotation and zoom) equal within ``linear_tol``."""
    if tuple(shape_a) != tuple(shape_b):
        return False
    a, b = np.asarray(affine_a, float), np.asarray(affine_b, float)
    return bool(
        np.abs(a[:3, 3] - b[:3, 3]).max() <= translation_tol
        and np.abs(a[:3, :3] - b[:3, :3]).max() <= linear_tol
    )


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each voxel axis: the column norms of ``A[:3, :3]``."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))  # type: ignore[return-value]


def describe_grid(shape: tuple[int, ...], affine: np.ndarray) -> str:
    """``"256x224x26 at 0.90x0.90x5.50 mm, origin (113.7, -74.6, -46.9)"``."""
    size = "x".join(str(int(s)) for s in shape)
    spacing = "x".join(f"{s:.2f}" for s in voxel_spacing(affine))
    origin = ", ".join(f"{v:.1f}" for v in np.asarray(affine)[:3, 3])
    return f"{size} at {spacing} mm, origin ({origin})"


def grid_mismatches(grids: Mapping[str, Grid], reference: str) -> list[str]:
    """Names in ``grids`` whose grid differs from ``grids[reference]``."""
    ref_shape, ref_affine = grids[reference]
    return [
        name
        for name, (shape, affine) in grids.items()
        if name != reference and not same_grid(shape, affine, ref_shape, ref_affine)
    ]


def resample_to_grid(
    data: np.ndarray,
    affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    order: int = 1,
) -> np.ndarray:
    """``data (X, Y, Z)`` on ``affine`` resampled onto the target grid, 0 outside.

    A target voxel ``j`` sits at world ``A_t j``, i.e. at source voxel
    ``i = A_s^-1 A_t j``; ``order`` 1 is trilinear (images), 0 nearest (labels, masks).
    """
    voxel_map = np.linalg.inv(np.asarray(affine, float)) @ np.asarray(target_affine, float)
    out = ndimage.affine_transform(
        np.asarray(data, np.float32),
        voxel_map[:3, :3],
        offset=voxel_map[:3, 3],
        output_shape=tuple(int(s) for s in target_shape),
        order=order,
        mode="constant",
        cval=0.0,
    )
    return np.asarray(out, np.float32)
