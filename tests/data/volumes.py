"""Small synthetic volumes with oblique affines for the data tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def oblique_affine(angle_deg: float = 12.0, zooms=(1.2, 0.9, 2.5), origin=(-30.0, 12.5, 7.0)):
    """A voxel-to-world affine rotated about two axes, anisotropic zooms."""
    a, b = np.radians(angle_deg), np.radians(angle_deg / 2)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag(zooms)
    affine[:3, 3] = origin
    return affine


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(
        nib.Nifti1Image(np.asarray(data), oblique_affine() if affine is None else affine), path
    )
    return path


def brain_volume(shape=(12, 10, 8), seed: int = 0) -> np.ndarray:
    """A positive blob (the 'brain') in a zero background, float32."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    inside = (grid**2).sum(axis=0) < 0.7
    return (inside * (1 + rng.random(shape))).astype(np.float32)
