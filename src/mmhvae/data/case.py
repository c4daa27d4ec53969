"""A case in memory: the present modalities on ONE voxel grid, plus seg and brain mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np

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

    def present(self, modalities: Sequence[str]) -> np.ndarray:
        """``(M,)`` bool: which of ``modalities`` this case has."""
        return np.array([canonical_modality(m) in self.images for m in modalities], dtype=bool)


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

    ``modalities`` restricts which images are read (others are ignored); an all-zero image
    counts as absent. Volumes off the reference grid are resampled (linear for images,
    nearest for seg and mask) with a warning, or refused when ``resample`` is False.
    """
    wanted = (
        files.modalities if modalities is None else tuple(canonical_modality(m) for m in modalities)
    )
    warnings: list[str] = []
    volumes: dict[str, Volume] = {}
    for name in wanted:
        if name not in files.images:
            continue
        volume = load_volume(files.images[name], "image")
        if not np.any(volume.data):
            warnings.append(f"{files.case_id}: {volume.path} is all zero: {name} treated as absent")
            continue
        volumes[name] = volume
    if not volumes:
        raise DataError(
            f"case {files.case_id}: no usable image among {', '.join(wanted) or 'no modality'}"
            f" (files: {', '.join(str(p) for p in files.images.values())})"
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
    )
