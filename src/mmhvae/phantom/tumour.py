"""Tumours: an irregular necrotic core in an enhancing rim, surrounded by oedema.

Labels follow BraTS 2021: 1 necrotic core, 2 oedema, 4 enhancing tumour. The shape is an
ellipsoid whose normalised radius is perturbed by smooth noise (thresholded smooth noise
around an ellipsoid); oedema spreads further, mostly in white matter. The tumour pushes the
surrounding tissue away (mass effect), decaying with distance from its centre.
Volumes are ``(X, Y, Z)``; points ``(3, X, Y, Z)`` in voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from mmhvae.phantom.anatomy import Anatomy, Deformation, FloatArray

NECROSIS, OEDEMA, ENHANCING = 1, 2, 4
LABELS = (NECROSIS, OEDEMA, ENHANCING)


@dataclass(frozen=True)
class Tumour:
    """Geometry of one tumour in output voxels (mm sizes are divided by the spacing)."""

    centre: NDArray[np.float64]  # (3,)
    radii: NDArray[np.float64]  # (3,) semi-axes of the enhancing boundary
    rotation: NDArray[np.float64]  # (3, 3) orientation of the ellipsoid
    core_fraction: float  # necrotic core radius / tumour radius
    oedema_factor: float  # oedema radius / tumour radius
    roughness: float  # amplitude of the radial noise
    push: float  # mass effect strength k in [0, 1)


def random_tumour(anatomy: Anatomy, deformation: Deformation, rng: np.random.Generator) -> Tumour:
    """Draw a tumour centred in deep white matter of the template, mapped to output voxels.

    The centre is drawn among template voxels with white matter > 0.9 at least the tumour
    radius (+5 mm) inside the brain, then mapped through the inverse of the deformation's
    linear part (the smooth displacement is a few mm, small beside the tumour).
    """
    spacing = anatomy.spacing
    radius_mm = rng.uniform(9.0, 20.0)
    depth = ndimage.distance_transform_edt(anatomy.brain > 0.5) * spacing
    candidates = np.argwhere((anatomy.wm > 0.9) & (depth > radius_mm + 5.0))
    if len(candidates) == 0:
        candidates = np.argwhere(anatomy.wm > 0.5)
    template_centre = candidates[rng.integers(len(candidates))].astype(np.float64)
    inverse = np.linalg.inv(deformation.matrix)
    centre = inverse @ (template_centre - deformation.centre) + deformation.centre
    axes = rng.uniform(0.75, 1.25, 3)
    q = rng.normal(size=4)
    return Tumour(
        centre=centre,
        radii=radius_mm * axes / axes.mean() / spacing,
        rotation=_rotation_from_quaternion(q / np.linalg.norm(q)),
        core_fraction=float(rng.uniform(0.25, 0.65)),
        oedema_factor=float(rng.uniform(1.5, 2.4)),
        roughness=float(rng.uniform(0.12, 0.3)),
        push=float(rng.uniform(0.3, 0.6)),
    )


def _rotation_from_quaternion(q: NDArray[np.float64]) -> NDArray[np.float64]:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def mass_effect(
    points: FloatArray, centre: NDArray[np.float64], push: float, scale: float
) -> FloatArray:
    """Pull-back of a radial push away from ``centre``: ``x -> c + (x - c) (1 - k g(r))``,
    ``g(r) = exp(-r^2 / (2 s^2))``.

    The output at radius r samples the healthy tissue at radius
    ``r' = r (1 - k g(r))`` < r, so tissue moves outwards, by at most about ``0.6 k s``,
    decaying like a Gaussian beyond s. ``dr'/dr >= 1 - k > 0``: no folding for k < 1.
    ``points`` ``(3, X, Y, Z)`` -> ``(3, X, Y, Z)``.
    """
    c = centre.astype(np.float32)[:, None, None, None]
    rel = points - c  # (3, X, Y, Z)
    r2 = np.einsum("i...,i...->...", rel, rel)
    shrink = 1.0 - push * np.exp(-r2 / (2.0 * scale**2))
    return (c + rel * shrink[None]).astype(np.float32)


def smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, sigma: float) -> FloatArray:
    """White Gaussian noise low-passed by a Gaussian of ``sigma`` voxels, rescaled to unit std."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (noise / max(float(noise.std()), 1e-6)).astype(np.float32)


def tumour_labels(tumour: Tumour, anatomy: Anatomy, rng: np.random.Generator) -> NDArray[np.uint8]:
    """BraTS labels ``(X, Y, Z)`` uint8 in {0, 1, 2, 4} for ``tumour`` in the (warped) anatomy.

    With ``rho`` the ellipsoid's normalised radius and ``n1, n2`` smooth unit noises,
    the tumour is ``rho + a n1 < 1`` (necrotic where ``< core_fraction``, enhancing
    elsewhere) and the oedema is ``rho + 1.5 a n2 < oedema_factor``, where the tissue is not
    CSF, preferring white matter (grey matter gets half the reach). Only inside the brain,
    and only the connected component that holds the centre (no satellite blobs).
    """
    shape = anatomy.shape
    reach = tumour.radii.max() * tumour.oedema_factor * 1.5 + 2
    lo = np.maximum(np.floor(tumour.centre - reach).astype(int), 0)
    hi = np.minimum(np.ceil(tumour.centre + reach).astype(int) + 1, shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    box_shape = tuple(int(b - a) for a, b in zip(lo, hi, strict=True))
    points = np.indices(box_shape, dtype=np.float64) + lo[:, None, None, None]  # (3, x, y, z)
    rel = np.einsum("ji,j...->i...", tumour.rotation, points - tumour.centre[:, None, None, None])
    scaled = rel / tumour.radii[:, None, None, None]  # (3, x, y, z) in units of the semi-axes
    rho = np.sqrt(np.einsum("i...,i...->...", scaled, scaled))
    sigma = max(1.0, float(tumour.radii.mean()) / 3.0)
    rho_tumour = rho + tumour.roughness * smooth_noise(box_shape, rng, sigma)
    rho_oedema = rho + 1.5 * tumour.roughness * smooth_noise(box_shape, rng, 1.5 * sigma)

    wm, gm, brain = anatomy.wm[box], anatomy.gm[box], anatomy.brain[box] > 0.5
    parenchyma = (wm + gm) > 0.5
    reach_oedema = np.where(wm >= gm, tumour.oedema_factor, 1.0 + 0.5 * (tumour.oedema_factor - 1))
    labels = np.zeros(box_shape, dtype=np.uint8)
    labels[(rho_oedema < reach_oedema) & parenchyma] = OEDEMA
    labels[rho_tumour < 1.0] = ENHANCING
    labels[rho_tumour < tumour.core_fraction] = NECROSIS
    labels[~brain] = 0
    labels[~_connected_to_centre(labels > 0, tumour.centre - lo)] = 0
    out = np.zeros(shape, dtype=np.uint8)
    out[box] = labels
    return out


def _connected_to_centre(
    region: NDArray[np.bool_], centre: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """The connected component of ``region`` nearest to ``centre`` (voxels of the box)."""
    components, count = ndimage.label(region)
    if count <= 1:
        return region
    points = np.argwhere(region)
    nearest = points[np.argmin(((points - centre) ** 2).sum(axis=1))]
    return components == components[tuple(nearest)]


def label_fractions(labels: NDArray[np.uint8], sigma: float = 0.6) -> dict[int, FloatArray]:
    """Partial-volume fraction of each tumour label: its indicator blurred by ``sigma`` voxels.

    The blurred indicators of all labels (and background) still sum to 1 everywhere.
    """
    fractions: dict[int, FloatArray] = {}
    for label in LABELS:
        indicator = (labels == label).astype(np.float32)
        fractions[label] = ndimage.gaussian_filter(indicator, sigma).astype(np.float32)
    return fractions
