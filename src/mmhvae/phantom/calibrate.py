"""Grey/white matter contrast ratios measured the same way on real and phantom volumes.

Tissue classes come from 3-class k-means on the T1 intensities inside the (eroded) brain
mask, away from the (dilated) tumour: darkest class CSF, middle GM, brightest WM. Each
contrast's ratio is ``mean(GM voxels) / mean(WM voxels)``. Used to calibrate the sequence
parameters of :mod:`mmhvae.phantom.mri` against real BraTS cases (tests/phantom).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.cluster.vq import kmeans2


def healthy_region(
    t1: NDArray[np.floating], seg: NDArray[np.floating] | None, erode: int = 3, dilate: int = 5
) -> NDArray[np.bool_]:
    """Brain (``t1 > 0``, eroded by ``erode`` voxels) minus the tumour dilated by ``dilate``."""
    region = ndimage.binary_erosion(t1 > 0, iterations=erode)
    if seg is not None and np.any(seg > 0):
        region &= ~ndimage.binary_dilation(seg > 0, iterations=dilate)
    return region


def t1_classes(t1_values: NDArray[np.floating]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """GM and WM memberships ``(N,)`` from 1D 3-class k-means (initialised at the 10th, 50th
    and 90th percentiles, so the result is deterministic)."""
    x = np.asarray(t1_values, dtype=np.float64)[:, None]  # (N, 1)
    init = np.percentile(x, [10, 50, 90])[:, None]
    centres, labels = kmeans2(x, init, minit="matrix", iter=30)
    order = np.argsort(centres[:, 0])
    return labels == order[1], labels == order[2]


def grey_white_ratios(
    images: Mapping[str, NDArray[np.floating]], seg: NDArray[np.floating] | None
) -> dict[str, float]:
    """``{contrast: mean GM / mean WM}`` with classes from ``images["t1"]`` (k-means)."""
    region = healthy_region(images["t1"], seg)
    gm, wm = t1_classes(images["t1"][region])
    ratios = {}
    for name, volume in images.items():
        values = np.asarray(volume, dtype=np.float64)[region]
        ratios[name] = float(values[gm].mean() / values[wm].mean())
    return ratios
