"""Volumes whose background is not zero, and the brain mask they need.

Without a mask file the brain is the union of voxels > 0 (data/preprocess.py). That holds for
skull-stripped volumes on a zero background (BraTS), not for a volume z-scored over the
whole field of view (the background becomes one negative value and the dark parts of the
brain fall below zero: holes), nor for a volume with scanner noise around the head (every
voxel > 0). :func:`background_problem` says which volumes these are; :func:`foreground`
keeps ``> 0`` for every other volume, exactly, and estimates the brain of these.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()  # (file, problem) already warned about by foreground()

# More border voxels than this off zero: the background is not zero.
BORDER_NONZERO_SHARE = 0.5
# At least this share of the border at one value: a constant background (a z-score's zeros).
CONSTANT_SHARE = 0.5
# More voxels than this below zero: z-scored. Interpolation leaves well under 1% (SRI24
# atlas registrations: 0.2% at most in ../shared), a z-scored brain of 15% of the field of
# view about half of that.
NEGATIVE_SHARE = 0.02


def border_values(data: np.ndarray) -> np.ndarray:
    """``(N,)`` the voxels on the six faces of the ``(X, Y, Z)`` volume (edges repeated).

    The field of view of a brain scan ends outside the head: its faces are background."""
    faces = [np.moveaxis(data, axis, 0)[[0, -1]].ravel() for axis in range(data.ndim)]
    return np.concatenate(faces)


def modal_value(values: np.ndarray) -> tuple[float, float]:
    """The most common of ``values`` and the share of ``values`` it holds."""
    unique, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    return float(unique[top]), float(counts[top] / values.size)


def background_problem(data: np.ndarray) -> str | None:
    """Why the background of ``data`` is not zero (so voxels > 0 are not its brain), or None.

    Non-zero: most of the border off zero (a constant offset, a z-score, scanner noise);
    z-scored: a border at zero but a large share of voxels below zero."""
    border = border_values(data)
    nonzero = float(np.mean(border != 0))
    if nonzero > BORDER_NONZERO_SHARE:
        value, share = modal_value(border)
        if share >= CONSTANT_SHARE:
            return f"has a non-zero background ({value:g} on {share:.0%} of its border voxels)"
        return f"has a non-zero background ({nonzero:.0%} of its border voxels are not 0)"
    negative = float(np.mean(data < 0))
    if negative > NEGATIVE_SHARE:
        return f"has {negative:.0%} of its voxels below zero (z-scored?), not a zero background"
    return None


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of ``values`` (Otsu, 1979):
    ``argmax_t w0(t) w1(t) (mu0(t) - mu1(t))^2`` over ``bins`` histogram edges."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)  # (bins,) voxels at or below each centre
    w1 = w0[-1] - w0
    sum0 = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = sum0 / w0
        mu1 = (sum0[-1] - sum0) / w1
        between = np.nan_to_num(w0 * w1 * (mu0 - mu1) ** 2)
    return float(centres[int(np.argmax(between))])


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of ``mask`` (all False when it is empty)."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())[1:]  # (count,) voxels per component
    return labels == int(np.argmax(sizes)) + 1


def estimated_brain_mask(data: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` bool: the brain (head, if not skull-stripped) of a volume whose
    background is not zero.

    A constant background (most border voxels at one value, a z-score's former zeros) is
    the region at that value connected to the border: everything else is brain, whatever
    its sign. Otherwise (noise) an Otsu threshold splits head from air and the largest
    component is kept. Holes are filled either way: a dark ventricle is brain."""
    value, share = modal_value(border_values(data))
    if share >= CONSTANT_SHARE:
        labels, _ = ndimage.label(data == value)
        on_border = np.unique(border_values(labels))
        brain = ~np.isin(labels, on_border[on_border > 0])
    else:
        brain = largest_component(data > otsu_threshold(data))
    return np.asarray(ndimage.binary_fill_holes(brain), dtype=bool)


def foreground(data: np.ndarray, where: str | Path) -> np.ndarray:
    """``(X, Y, Z)`` bool: voxels > 0 (exactly, for a zero background), or for a volume whose
    background is not zero its :func:`estimated_brain_mask`, with a warning naming ``where``."""
    problem = background_problem(data)
    if problem is None:
        return data > 0
    if (str(where), problem) not in _WARNED:  # once per file and process, not per caller
        _WARNED.add((str(where), problem))
        log.warning(
            "%s %s: its brain mask is estimated from the background instead of voxels > 0 "
            "(give a brain mask file to use your own)",
            where,
            problem,
        )
    return estimated_brain_mask(data)
