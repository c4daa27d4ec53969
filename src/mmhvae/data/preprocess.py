"""A loaded case -> model-ready arrays, and the exact way back to the case's own grid.

Steps (ARCHITECTURE.md step 3): brain mask; per-modality percentile normalisation to [0, 1]
inside the mask (EVALUATION.md); reorientation of the voxel axes (a permutation and flips,
exact) so that slices are axial; optional in-plane resampling; in-plane crop/pad to
``image_size`` centred on the brain. Arrays are ``(S, H, W)``: S axial slices (inferior ->
superior), H rows (anterior -> posterior), W columns (patient right -> left), i.e. the
radiological view; :func:`to_original_grid` undoes every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from nibabel import orientations
from scipy import ndimage

from mmhvae.data.background import foreground
from mmhvae.data.case import Case
from mmhvae.data.grid import describe_grid, voxel_spacing
from mmhvae.data.modalities import canonical_modality
from mmhvae.data.nifti import MAX_SIDE, MAX_VOXELS
from mmhvae.errors import DataError

# Voxel axes after reorientation, before moving S first: rows P, columns L, slices S.
WORKING_AXCODES = ("P", "L", "S")
MAX_INPLANE = MAX_SIDE  # pixels per side after in-plane resampling


@dataclass(frozen=True)
class GridInfo:
    """What :func:`to_original_grid` needs (small and picklable)."""

    shape: tuple[int, int, int]  # original (X, Y, Z)
    affine: np.ndarray  # original (4, 4)
    header_bytes: bytes  # original NIfTI-1 header, binary block
    ornt: np.ndarray  # (3, 2) nibabel orientation transform: original -> working axes
    inplane_shape: tuple[int, int]  # (H, W) after reorientation and resampling, before crop
    native_inplane_shape: tuple[int, int]  # (H, W) after reorientation, before resampling
    crop_start: tuple[int, int]  # top-left of the crop window in the resampled plane (may be < 0)
    image_size: int
    spacing: float  # 0: native in-plane spacing

    @property
    def header(self) -> nib.Nifti1Header:
        return nib.Nifti1Header(binaryblock=self.header_bytes)


@dataclass
class Prepared:
    """A case ready for slicing: ``images (M, S, H, W)`` float32 in [0, 1]."""

    case_id: str
    modalities: tuple[str, ...]
    images: np.ndarray  # (M, S, H, W), absent modalities all zero
    present: np.ndarray  # (M,) bool
    mask: np.ndarray  # (S, H, W) bool
    seg: np.ndarray | None  # (S, H, W) int16
    grid: GridInfo
    warnings: list[str] = field(default_factory=list)  # from loading (resampling, all-zero)
    # modalities whose file stores one byte per voxel (data/standardise.py); set on loading,
    # not cached: it is read from the files' headers
    eight_bit: tuple[str, ...] = ()


def brain_mask(case: Case) -> np.ndarray:
    """``(X, Y, Z)`` bool: the provided mask, else the union over present images of > 0
    (of the estimated brain for an image whose background is not zero: data/background.py)."""
    if case.mask is not None:
        return np.asarray(case.mask, dtype=bool)
    mask = np.zeros(case.shape, dtype=bool)
    for modality, image in case.images.items():
        mask |= foreground(image, case.files.images.get(modality, f"{case.case_id} {modality}"))
    return mask


def normalise(
    volume: np.ndarray, mask: np.ndarray, low: float = 0.5, high: float = 99.5
) -> np.ndarray:
    """``clip((x - p_low) / (p_high - p_low), 0, 1)`` inside ``mask``, 0 outside.

    Percentiles are taken over the voxels of ``mask``; a constant volume (or an empty mask)
    gives zeros. Same shape as ``volume``, float32.
    """
    out = np.zeros(volume.shape, dtype=np.float32)
    values = volume[mask]
    if values.size == 0:
        return out
    lo, hi = np.percentile(values, [low, high])
    if not hi > lo:
        return out
    out[mask] = np.clip((values - lo) / (hi - lo), 0.0, 1.0)
    return out


def normalised_volumes(
    case: Case, modalities: Sequence[str] | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Normalised present modalities on the ORIGINAL grid (EVALUATION.md space) and the mask."""
    mask = brain_mask(case)
    names = case.images if modalities is None else [canonical_modality(m) for m in modalities]
    return {m: normalise(case.images[m], mask) for m in names if m in case.images}, mask


def prepare_case(
    case: Case,
    modalities: Sequence[str],
    image_size: int,
    spacing: float = 0.0,
    brain: np.ndarray | None = None,
) -> Prepared:
    """Normalise, reorient, optionally resample in-plane and crop/pad ``case``.

    ``brain``: :func:`brain_mask` of ``case`` when the caller already has it (synthesis and
    evaluation need it on the original grid too): an estimated mask (data/background.py) is
    then computed, and warned about, once per case."""
    modalities = tuple(canonical_modality(m) for m in modalities)
    mask = brain_mask(case) if brain is None else np.asarray(brain, dtype=bool)
    if not mask.any():
        raise DataError(f"case {case.case_id}: empty brain mask (no voxel > 0 and no mask file)")
    ornt = orientations.ornt_transform(
        orientations.io_orientation(case.affine), orientations.axcodes2ornt(WORKING_AXCODES)
    )

    def to_slices(volume: np.ndarray) -> np.ndarray:
        # (X, Y, Z) original -> (P, L, S) working -> (S, H, W)
        return np.moveaxis(orientations.apply_orientation(volume, ornt), 2, 0)

    mask_s = to_slices(mask)
    native_hw = (int(mask_s.shape[1]), int(mask_s.shape[2]))
    target_hw = _resampled_shape(case.affine, ornt, native_hw, spacing)
    if max(target_hw) > MAX_INPLANE or math.prod(target_hw) * mask_s.shape[0] > MAX_VOXELS:
        raise DataError(
            f"case {case.case_id}: resampling to {spacing:g} mm would make "
            f"{mask_s.shape[0]} slices of {target_hw[0]}x{target_hw[1]} pixels (at most "
            f"{MAX_INPLANE} per side, {MAX_VOXELS} voxels); its grid is "
            f"{describe_grid(case.shape, case.affine)}"
        )
    mask_s = _resize_inplane(mask_s.astype(np.float32), target_hw, order=0) > 0.5
    crop_start = _crop_start(mask_s, image_size)

    def finish(volume: np.ndarray, order: int) -> np.ndarray:
        resized = _resize_inplane(to_slices(volume), target_hw, order)
        return crop_or_pad(resized, crop_start, image_size)

    images = np.zeros((len(modalities), mask_s.shape[0], image_size, image_size), np.float32)
    for index, name in enumerate(modalities):
        if name in case.images:
            images[index] = np.clip(finish(normalise(case.images[name], mask), 1), 0.0, 1.0)
    mask_out = crop_or_pad(mask_s, crop_start, image_size)
    images *= mask_out[None]  # (M, S, H, W): background exactly 0 after interpolation
    seg = None if case.seg is None else finish(case.seg.astype(np.float32), 0).astype(np.int16)
    header = case.header if isinstance(case.header, nib.Nifti1Header) else None
    header = header or nib.Nifti1Header.from_header(case.header)
    grid = GridInfo(
        shape=tuple(int(s) for s in case.shape),  # type: ignore[arg-type]
        affine=np.asarray(case.affine, np.float64).copy(),
        header_bytes=bytes(header.binaryblock),
        ornt=ornt,
        inplane_shape=target_hw,
        native_inplane_shape=native_hw,
        crop_start=crop_start,
        image_size=int(image_size),
        spacing=float(spacing),
    )
    return Prepared(
        case_id=case.case_id,
        modalities=modalities,
        images=images,
        present=case.present(modalities),
        mask=mask_out,
        seg=seg,
        grid=grid,
        warnings=list(case.warnings),
    )


def to_original_grid(grid: GridInfo, volume: np.ndarray, order: int = 1) -> np.ndarray:
    """Inverse of :func:`prepare_case`'s geometry: ``(S, H, W)`` -> original ``(X, Y, Z)``.

    Exact (no interpolation) when ``spacing`` was 0; zero outside the crop window.
    """
    volume = np.asarray(volume)
    expected = (grid.image_size, grid.image_size)
    if volume.ndim != 3 or volume.shape[1:] != expected:
        raise DataError(
            f"to_original_grid: expected (S, {expected[0]}, {expected[1]}), got {volume.shape}"
        )
    plane = uncrop(volume, grid.crop_start, grid.inplane_shape)
    plane = _resize_inplane(plane, grid.native_inplane_shape, order)
    working = np.moveaxis(plane, 0, 2)  # (S, H, W) -> (P, L, S)
    inverse = orientations.ornt_transform(
        orientations.axcodes2ornt(WORKING_AXCODES), orientations.io_orientation(grid.affine)
    )
    out = orientations.apply_orientation(working, inverse)
    if tuple(out.shape) != tuple(grid.shape):
        raise DataError(f"to_original_grid: got shape {out.shape}, expected {grid.shape}")
    return np.ascontiguousarray(out)


def _resampled_shape(
    affine: np.ndarray, ornt: np.ndarray, native_hw: tuple[int, int], spacing: float
) -> tuple[int, int]:
    """(H, W) after resampling to ``spacing`` mm: ``round(n * native_mm / spacing)``."""
    if spacing <= 0:
        return native_hw
    sizes = voxel_spacing(affine)
    working = [0.0, 0.0, 0.0]
    for axis, (target, _) in enumerate(ornt):  # voxel axis ``axis`` becomes ``target``
        working[int(target)] = sizes[axis]
    return tuple(  # type: ignore[return-value]
        max(1, int(round(n * mm / spacing))) for n, mm in zip(native_hw, working[:2], strict=True)
    )


def _resize_inplane(volume: np.ndarray, out_hw: tuple[int, int], order: int) -> np.ndarray:
    """``(S, h, w)`` -> ``(S, H, W)``, pixel centres aligned: ``i = (j + 0.5) h / H - 0.5``.

    Linear (``order=1``) is torch's bilinear interpolation with ``align_corners=False`` in
    float64: the same source coordinates, and the same edge rule as
    ``scipy.ndimage.affine_transform(order=1, mode="nearest")`` (a coordinate below 0 reads
    pixel 0, above n - 1 pixel n - 1), so the numbers of scipy to one float32 ulp, several
    times faster than scipy or numpy gathers; it runs once per synthesised volume on the way
    back to the case's grid. Slices that are all zero (outside the brain) stay zero without
    work. Nearest neighbour (``order=0``, masks and labels) stays with scipy.
    """
    s, h, w = volume.shape
    if (h, w) == tuple(out_hw):
        return volume
    if order == 1:
        out = np.zeros((s, *out_hw), np.float32)
        filled = np.flatnonzero(np.asarray(volume).reshape(s, -1).any(axis=1))
        if filled.size:
            planes = torch.from_numpy(np.asarray(volume)[filled].astype(np.float64))  # (N, h, w)
            resized = F.interpolate(
                planes[:, None], size=tuple(out_hw), mode="bilinear", align_corners=False
            )
            out[filled] = resized[:, 0].numpy()
        return out
    scale = np.array([1.0, h / out_hw[0], w / out_hw[1]])
    offset = 0.5 * scale - 0.5
    offset[0] = 0.0
    out = ndimage.affine_transform(
        np.asarray(volume, np.float32),
        scale,
        offset=offset,
        output_shape=(s, *out_hw),
        order=order,
        mode="nearest",
    )
    return np.asarray(out, np.float32)


def _crop_start(mask: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of a ``size`` x ``size`` window centred on the mask's bounding box."""
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    cols = np.flatnonzero(mask.any(axis=(0, 1)))
    centre = ((rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2)
    return int(np.floor(centre[0] - size / 2)), int(np.floor(centre[1] - size / 2))


def crop_or_pad(volume: np.ndarray, start: tuple[int, int], size: int) -> np.ndarray:
    """``(S, H, W)`` -> ``(S, size, size)``: the window at ``start``, 0 outside the plane."""
    out = np.zeros((volume.shape[0], size, size), dtype=volume.dtype)
    src, dst = _overlap(start, volume.shape[1:], size)
    out[:, dst[0], dst[1]] = volume[:, src[0], src[1]]
    return out


def uncrop(volume: np.ndarray, start: tuple[int, int], plane: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`crop_or_pad`: ``(S, size, size)`` -> ``(S, *plane)``, zero outside."""
    out = np.zeros((volume.shape[0], *plane), dtype=volume.dtype)
    src, dst = _overlap(start, plane, volume.shape[1])
    out[:, src[0], src[1]] = volume[:, dst[0], dst[1]]
    return out


def _overlap(
    start: tuple[int, int], plane: tuple[int, ...], size: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of the plane and of the window where the window at ``start`` covers the plane."""
    src, dst = [], []
    for begin, n in zip(start, plane, strict=True):
        lo, hi = max(begin, 0), min(begin + size, n)
        hi = max(hi, lo)
        src.append(slice(lo, hi))
        dst.append(slice(lo - begin, hi - begin))
    return (src[0], src[1]), (dst[0], dst[1])
