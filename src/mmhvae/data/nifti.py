"""NIfTI volumes in and out: validated loading, header-preserving atomic saving."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from mmhvae.errors import DataError, OutputExistsError
from mmhvae.files import atomic_path

NIFTI_SUFFIXES = (".nii.gz", ".nii")
VolumeKind = Literal["image", "seg", "mask"]

# What nibabel/gzip raise on a truncated, corrupt or unreadable file.
_READ_ERRORS = (
    OSError,
    EOFError,
    ImageFileError,
    gzip.BadGzipFile,
    zlib.error,
    ValueError,
)


@dataclass
class Volume:
    """One 3D volume: ``data (X, Y, Z)`` float32 in voxel order, its affine and header."""

    data: np.ndarray
    affine: np.ndarray
    header: nib.Nifti1Header
    path: Path

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def strip_nifti_suffix(name: str) -> str:
    """``"a_t1.nii.gz"`` -> ``"a_t1"``."""
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_header(path: str | Path) -> nib.Nifti1Image:
    """The image proxy (header and affine, voxels not read); DataError if unusable."""
    path = Path(path)
    if not is_nifti(path):
        raise DataError(f"{path}: not a NIfTI file (expected .nii or .nii.gz)")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        image = nib.load(path)
    except _READ_ERRORS as error:
        raise DataError(f"{path}: unreadable NIfTI ({error})") from None
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise DataError(f"{path}: not a NIfTI-1/2 image ({type(image).__name__})")
    return image


def spatial_shape(image: nib.Nifti1Image, path: str | Path) -> tuple[int, int, int]:
    """The 3D shape (a trailing singleton 4th axis dropped); DataError for 2D or 4D."""
    shape = tuple(int(s) for s in image.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise DataError(f"{path}: expected a 3D volume, got shape {shape} ({len(shape)}D)")
    return shape


def load_volume(path: str | Path, kind: VolumeKind = "image") -> Volume:
    """Read and validate one 3D volume as float32 (labels keep their integer values)."""
    path = Path(path)
    image = load_header(path)
    shape = spatial_shape(image, path)
    try:
        data = np.asarray(image.dataobj, dtype=np.float32)
    except _READ_ERRORS as error:
        raise DataError(f"{path}: truncated or corrupt voxel data ({error})") from None
    data = data.reshape(shape)  # drop trailing singleton axes
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"{path}: {bad} non-finite voxels (NaN or inf)")
    if kind in ("seg", "mask"):
        data = np.rint(data)
    return Volume(data=data, affine=image.affine.copy(), header=image.header.copy(), path=path)


def save_volume(
    path: str | Path,
    data: np.ndarray,
    affine: np.ndarray,
    header: nib.Nifti1Header | None = None,
    dtype: type | np.dtype = np.float32,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` with the given affine and header (copied), atomically.

    The header keeps everything but its data type (``dtype``) and scaling (slope 1, inter 0,
    so float values are stored as given); ``.nii`` or ``.nii.gz`` from the name.
    """
    path = Path(path)
    if not is_nifti(path):
        raise DataError(f"{path}: output must end with .nii or .nii.gz")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists (use --overwrite to replace it)")
    data = np.asarray(data)
    if data.ndim != 3:
        raise DataError(f"{path}: expected 3D data to save, got shape {data.shape}")
    header = header.copy() if header is not None else nib.Nifti1Header()
    codes = int(header["qform_code"]), int(header["sform_code"])
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.asarray(affine), header)
    # nibabel resets the codes when given an affine: keep the input's (scanner, aligned, ...)
    if codes[0] > 0:
        image.set_qform(affine, code=codes[0])
    if codes[1] > 0:
        image.set_sform(affine, code=codes[1])
    image.set_data_dtype(dtype)
    image.header.set_slope_inter(1.0, 0.0)
    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    with atomic_path(path, suffix=suffix) as tmp:
        nib.save(image, tmp)
    return path
