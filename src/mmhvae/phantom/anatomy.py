"""Healthy anatomy: MNI152 tissue probability maps, randomly deformed per case.

The templates ship inside nilearn's wheel (no network). Grey and white matter come from the
MNI152 2009 probability maps, cerebrospinal fluid is the brain mask minus both. A case's
anatomy is the template pulled back through one coordinate map that composes a global
scaling, a small rotation about the vertical axis, left-right asymmetry, a smooth random
displacement field and (optionally) the tumour's mass effect (:mod:`mmhvae.phantom.tumour`).

Volumes are ``(X, Y, Z)`` voxel arrays on the template's RAS grid (Z axial), coordinates are
``(3, X, Y, Z)`` in template voxels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.interpolate import CubicSpline

FloatArray = NDArray[np.float32]


class Size(str, Enum):
    """Template resolution: 1 mm (197x233x189) or 2 mm (99x117x95) isotropic."""

    MM1 = "1mm"
    MM2 = "2mm"

    @property
    def resolution(self) -> int:
        return 1 if self is Size.MM1 else 2


@dataclass(frozen=True)
class Anatomy:
    """Tissue fractions of one brain, each ``(X, Y, Z)`` float32 in [0, 1], gm + wm + csf <= 1.

    ``brain`` is the (possibly fractional) brain mask; outside it every fraction is 0.
    """

    gm: FloatArray
    wm: FloatArray
    csf: FloatArray
    brain: FloatArray
    affine: NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int, int]:
        x, y, z = self.gm.shape
        return x, y, z

    @property
    def spacing(self) -> float:
        """Isotropic voxel size in mm."""
        return float(abs(self.affine[0, 0]))


@functools.lru_cache(maxsize=2)
def load_templates(size: Size | str = Size.MM2) -> Anatomy:
    """The MNI152 templates at 1 or 2 mm as an :class:`Anatomy` (cached; arrays read-only)."""
    from nilearn import datasets  # heavy import, only when a phantom is made

    resolution = Size(size).resolution
    gm_img = datasets.load_mni152_gm_template(resolution=resolution)
    gm = np.clip(np.asarray(gm_img.dataobj, dtype=np.float32), 0.0, 1.0)
    wm = np.clip(
        np.asarray(datasets.load_mni152_wm_template(resolution=resolution).dataobj, np.float32),
        0.0,
        1.0,
    )
    brain = np.asarray(
        datasets.load_mni152_brain_mask(resolution=resolution).dataobj, dtype=np.float32
    )
    anatomy = tissue_fractions(gm, wm, brain, np.asarray(gm_img.affine, dtype=np.float64))
    for array in (anatomy.gm, anatomy.wm, anatomy.csf, anatomy.brain):
        array.setflags(write=False)
    return anatomy


def tissue_fractions(
    gm: FloatArray, wm: FloatArray, brain: FloatArray, affine: NDArray[np.float64]
) -> Anatomy:
    """Consistent fractions from probability maps: inside the brain, ``csf = brain - gm - wm``.

    Where ``gm + wm`` exceeds the brain fraction both are scaled down to it, so the three
    fractions always sum to ``brain``; outside the brain (``brain = 0``) everything is 0.
    """
    brain = np.clip(brain, 0.0, 1.0).astype(np.float32)
    total = gm + wm
    scale = np.where(total > brain, brain / np.maximum(total, 1e-6), 1.0).astype(np.float32)
    gm = (gm * scale).astype(np.float32)
    wm = (wm * scale).astype(np.float32)
    csf = np.clip(brain - gm - wm, 0.0, 1.0).astype(np.float32)
    return Anatomy(gm=gm, wm=wm, csf=csf, brain=brain, affine=affine)


def brain_centre(anatomy: Anatomy) -> NDArray[np.float64]:
    """Centre of mass of the brain mask in voxels, ``(3,)``."""
    return np.asarray(ndimage.center_of_mass(anatomy.brain), dtype=np.float64)


@dataclass(frozen=True)
class Deformation:
    """A smooth pull-back map: output voxel ``x`` samples the template at
    ``matrix @ (x - centre) + centre + asymmetry term + displacement(x)``."""

    matrix: NDArray[np.float64]  # (3, 3) scaling and rotation
    centre: NDArray[np.float64]  # (3,) voxels
    asymmetry: float  # relative left-right scale difference
    displacement: FloatArray  # (3, X, Y, Z) voxels


def random_deformation(
    anatomy: Anatomy,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.92, 1.08),
    max_rotation_deg: float = 6.0,
    max_asymmetry: float = 0.05,
    displacement_mm: float = 3.0,
    control_points: int = 6,
) -> Deformation:
    """Draw a case's deformation: global size, rotation, asymmetry and a smooth field.

    The displacement is Gaussian noise of std ``displacement_mm`` on a coarse
    ``control_points^3`` grid, upsampled by cubic spline interpolation (smooth, no folding
    at these amplitudes).
    """
    scale = rng.uniform(*scale_range)
    angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    matrix = rotation / scale  # pulling back through 1/scale makes the brain `scale` times bigger
    coarse = rng.normal(0.0, displacement_mm / anatomy.spacing, (3,) + (control_points,) * 3)
    displacement = smooth_upsample(coarse, anatomy.shape)
    return Deformation(
        matrix=matrix,
        centre=brain_centre(anatomy),
        asymmetry=float(rng.uniform(-max_asymmetry, max_asymmetry)),
        displacement=displacement.astype(np.float32),
    )


def smooth_upsample(coarse: NDArray[np.floating], shape: tuple[int, int, int]) -> FloatArray:
    """Cubic-spline interpolation of a coarse grid ``(..., a, b, c)`` spanning the volume onto
    ``(..., X, Y, Z)``, one small ``(X, a)`` matrix per axis (far cheaper than a 3D zoom)."""
    out = np.asarray(coarse, dtype=np.float64)
    for axis, n in enumerate(shape):
        axis = out.ndim - 3 + axis
        m = out.shape[axis]
        weights = CubicSpline(np.linspace(0.0, 1.0, m), np.eye(m))(np.linspace(0.0, 1.0, n))
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [axis])), 0, axis)  # (n, ...)
    return out.astype(np.float32)


def output_grid(shape: tuple[int, int, int]) -> FloatArray:
    """Voxel coordinates of a grid, ``(3, X, Y, Z)`` float32."""
    return np.indices(shape, dtype=np.float32)


def pull_back(deformation: Deformation, points: FloatArray) -> FloatArray:
    """Template coordinates sampled by output ``points`` ``(3, X, Y, Z)``.

    ``src = A (x - c) + c + d(x)`` with a left-right term
    ``src_x += a (x - c_x) tanh((x - c_x) / w)``: one hemisphere is ``1 + a`` times wider,
    the other ``1 - a``, joined smoothly across the midline (w = 10 voxels).
    """
    centre = deformation.centre.astype(np.float32)[:, None, None, None]
    rel = points - centre  # (3, X, Y, Z)
    src = np.einsum("ij,j...->i...", deformation.matrix.astype(np.float32), rel)
    src[0] *= 1.0 - deformation.asymmetry * np.tanh(rel[0] / 10.0)
    src += centre + deformation.displacement
    return src


def warp_anatomy(anatomy: Anatomy, coordinates: FloatArray) -> Anatomy:
    """Resample every tissue map at template ``coordinates`` ``(3, X, Y, Z)`` (linear)."""

    def sample(volume: FloatArray) -> FloatArray:
        out = ndimage.map_coordinates(volume, coordinates, order=1, mode="constant", cval=0.0)
        return np.asarray(out, dtype=np.float32)

    return tissue_fractions(
        sample(anatomy.gm), sample(anatomy.wm), sample(anatomy.brain), anatomy.affine
    )
