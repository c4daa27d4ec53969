"""A case in memory: the present modalities on ONE voxel grid, plus seg and brain mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

from mmhvae.data.coverage import coverage_warnings
from mmhvae.data.grid import describe_grid, grid_mismatches, resample_to_grid
from mmhvae.data.layouts import CaseFiles
from mmhvae.data.modalities import REFERENCE_PREFERENCE, canonical_modality, sort_modalities
from mmhvae.data.nifti import Volume, load_volume
from mmhvae.errors import DataError


@dataclass
class Case:
    """``images``: canonical modality -> ``(X, Y, Z)`` float32, present modalities only."""

    case_id: str
    images: dict[str, np.ndarray]
    affine: np.ndarray
    header: nib.Nifti1Header
    shape: tuple[int, int, int]
    seg: np.ndarray | None
    mask: np.ndarray | None
    files: CaseFiles
    reference: str
    warnings: list[str] = field(default_factory=list)
    # images whose file (or array) stores one byte per voxel: rescaled per volume before they
    # were quantised (data/standardise.py maps them); canonical names
    eight_bit: tuple[str, ...] = ()

    def present(self, modalities: Sequence[str]) -> np.ndarray:
        """``(M,)`` bool: which of ``modalities`` this case has."""
        return np.array([canonical_modality(m) in self.images for m in modalities], dtype=bool)


# An image with at most this many distinct values, all integers, is a label map or a mask.
LABEL_MAX_VALUES = 8


def image_problem(data: np.ndarray) -> str | None:
    """Why ``data`` cannot be used as an image (all zero, constant, a label map), else None.

    Normalisation maps an image's 0.5 to 99.5 percentiles inside the brain to [0, 1]: a
    constant volume gives zeros and a label map gives a few flat levels, neither an image.
    """
    if not np.any(data):
        return "is all zero"
    sample = data.ravel()[:: max(1, data.size // 1_000_000)]  # (N,) a strided subsample
    if np.all(sample == sample[0]) and np.all(data == data.flat[0]):
        return f"is constant ({float(data.flat[0]):g} everywhere)"
    values = np.unique(sample)
    if len(values) <= LABEL_MAX_VALUES and np.all(values == np.rint(values)):
        values = np.unique(data)
        if len(values) <= LABEL_MAX_VALUES and np.all(values == np.rint(values)):
            shown = ", ".join(f"{v:g}" for v in values)
            return f"looks like a label map or mask (only the values {shown})"
    return None


def choose_reference(present: Sequence[str], reference: str | None = None) -> str:
    """The modality whose grid the case is put on: ``reference`` if given, else the first
    present one in :data:`REFERENCE_PREFERENCE`, else the first in canonical order."""
    if reference is not None:
        reference = canonical_modality(reference)
        if reference not in present:
            raise DataError(
                f"reference modality {reference!r} is not present ({', '.join(present)})"
            )
        return reference
    for name in REFERENCE_PREFERENCE:
        if name in present:
            return name
    return sort_modalities(present)[0]


def load_case(
    files: CaseFiles,
    modalities: Sequence[str] | None = None,
    resample: bool = True,
    reference: str | None = None,
) -> Case:
    """Read a case's volumes (each once) and put them on one grid.

    ``modalities`` restricts which images are read (others are ignored); an image that is all
    zero (before or after resampling), constant or a label map counts as absent (warning).
    Volumes off the reference grid are resampled (linear for images, nearest for seg and
    mask) with a warning, or refused when ``resample`` is False.
    """
    wanted = (
        files.modalities if modalities is None else tuple(canonical_modality(m) for m in modalities)
    )
    warnings: list[str] = [f"{files.case_id}: {p}" for p in files.problems]
    volumes: dict[str, Volume] = {}
    for name in wanted:
        if name not in files.images:
            continue
        volume = load_volume(files.images[name], "image")
        unusable = image_problem(volume.data)
        if unusable is not None:
            warnings.append(f"{files.case_id}: {volume.path} {unusable}: {name} treated as absent")
            continue
        volumes[name] = volume
    if not volumes:
        problems = "; ".join(files.problems)
        raise DataError(
            f"case {files.case_id}: no usable image among {', '.join(wanted) or 'no modality'}"
            f" (files: {', '.join(str(p) for p in files.images.values()) or 'none'})"
            + (f"; {problems}" if problems else "")
        )
    sorted_present = sort_modalities(volumes)
    ref = choose_reference(sorted_present, reference)
    labels = {
        kind: load_volume(path, kind)  # type: ignore[arg-type]
        for kind, path in (("seg", files.seg), ("mask", files.mask))
        if path is not None
    }
    everything = {**volumes, **labels}
    grids = {name: (v.shape, v.affine) for name, v in everything.items()}
    off_grid = grid_mismatches(grids, ref)
    ref_volume = volumes[ref]
    if off_grid:
        detail = "; ".join(
            f"{name} {describe_grid(*grids[name])} ({everything[name].path})" for name in off_grid
        )
        message = (
            f"{files.case_id}: volumes on different grids (reference {ref} "
            f"{describe_grid(*grids[ref])} ({ref_volume.path}) vs {detail})"
        )
        if not resample:
            raise DataError(message + "; resampling is off")
        warnings.append(message + f": resampled onto the {ref} grid")
        for name in off_grid:
            order = 0 if name in labels else 1
            v = everything[name]
            v.data = resample_to_grid(v.data, v.affine, ref_volume.shape, ref_volume.affine, order)
            v.affine = ref_volume.affine.copy()
            if name in volumes and not np.any(v.data):
                # the volume lies outside the reference grid (a wrong origin): nothing of it
                # is left, and an all-zero image must never count as present
                warnings.append(
                    f"{files.case_id}: {v.path} is all zero after resampling from "
                    f"{describe_grid(*grids[name])} onto the {ref} grid "
                    f"{describe_grid(*grids[ref])}: {name} treated as absent"
                )
                del volumes[name]
        sorted_present = sort_modalities(volumes)
    warnings += coverage_warnings(
        files.case_id,
        {name: volumes[name].data for name in sorted_present},
        {name: volumes[name].path for name in sorted_present},
    )
    return Case(
        case_id=files.case_id,
        images={name: volumes[name].data for name in sorted_present},
        affine=ref_volume.affine.copy(),
        header=ref_volume.header.copy(),
        shape=ref_volume.shape,
        seg=labels["seg"].data.astype(np.int16) if "seg" in labels else None,
        mask=labels["mask"].data > 0 if "mask" in labels else None,
        files=files,
        reference=ref,
        warnings=warnings,
        eight_bit=tuple(m for m in sorted_present if stored_in_one_byte(volumes[m].header)),
    )


def stored_in_one_byte(
    header: nib.spatialimages.SpatialHeader | nib.spatialimages.SpatialImage,
) -> bool:
    """Whether an image's (or its header's) data type has one byte per voxel (uint8, int8)."""
    return np.dtype(header.get_data_dtype()).itemsize == 1
