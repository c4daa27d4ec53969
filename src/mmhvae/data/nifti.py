"""NIfTI volumes in and out: validated loading, header-preserving atomic saving."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np

from mmhvae.errors import DataError, OutputExistsError
from mmhvae.files import atomic_path

NIFTI_SUFFIXES = (".nii.gz", ".nii")
VolumeKind = Literal["image", "seg", "mask"]

# Limits of what one volume may claim before a voxel is read: a header is 348 bytes anyone
# can edit, and nibabel would allocate whatever it says.
MAX_VOXELS = 2**29  # 512 Mi voxels: 2 GiB as float32, 8x a 0.5 mm whole head
MAX_SIDE = 8192  # voxels along one axis
SPACING_RANGE_MM = (1e-3, 100.0)  # voxel sizes outside this are a corrupt header
# Deflate cannot shrink data more than about 1032:1; a .nii.gz claiming more is corrupt.
GZIP_MAX_RATIO = 1100


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
    """The image proxy (header and affine, voxels not read), checked so that reading its
    voxels is safe: 3D, a scalar data type, a voxel count the file can hold and below
    :data:`MAX_VOXELS`, a finite invertible affine with sane voxel sizes.

    Any problem (nibabel's own errors included) is a DataError naming the file.
    """
    path = Path(path)
    if not is_nifti(path):
        raise DataError(f"{path}: not a NIfTI file (expected .nii or .nii.gz)")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a NIfTI file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        image = nib.load(path)
    except MemoryError:
        raise DataError(f"{path}: unreadable NIfTI (header too large to read)") from None
    except Exception as error:  # nibabel raises many types for a corrupt header
        raise DataError(f"{path}: unreadable NIfTI ({_reason(error)})") from None
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise DataError(f"{path}: not a NIfTI-1/2 image ({type(image).__name__})")
    try:
        _check_header(image, path)
    except DataError:
        raise
    except Exception as error:  # a header field nibabel cannot interpret
        raise DataError(f"{path}: corrupt NIfTI header ({_reason(error)})") from None
    return image


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_header(image: nib.Nifti1Image, path: Path) -> None:
    dtype = np.dtype(image.get_data_dtype())
    if dtype.fields is not None or dtype.kind not in "biuf":
        kind = "complex" if dtype.kind == "c" else "non-scalar"
        raise DataError(
            f"{path}: {kind} voxel type {image.header.get_value_label('datatype')} "
            f"({dtype}): expected one real value per voxel"
        )
    shape = spatial_shape(image, path)
    if min(shape) < 1 or max(shape) > MAX_SIDE:
        raise DataError(f"{path}: implausible shape {shape} (each side 1 to {MAX_SIDE})")
    voxels = math.prod(int(s) for s in image.shape)
    if voxels > MAX_VOXELS:
        raise DataError(f"{path}: header claims {voxels} voxels (more than {MAX_VOXELS})")
    # the proxy's offset is the one used to read (the header copy may have been reset)
    offset = float(getattr(image.dataobj, "offset", image.header["vox_offset"]))
    if not math.isfinite(offset) or offset < 0:
        raise DataError(f"{path}: corrupt header (vox_offset {offset})")
    needed = int(offset) + voxels * dtype.itemsize
    size = path.stat().st_size
    gzipped = path.name.lower().endswith(".gz")
    if (gzipped and needed > size * GZIP_MAX_RATIO) or (not gzipped and needed > size):
        raise DataError(
            f"{path}: header claims {voxels} voxels of {dtype} ({needed} bytes), more than "
            f"the {size}-byte file can hold (truncated file or corrupt header)"
        )
    pixdim = np.asarray(image.header["pixdim"][1:4], dtype=np.float64)
    if not np.isfinite(pixdim).all():
        raise DataError(f"{path}: non-finite voxel sizes in the header (pixdim {pixdim})")
    check_affine(image.affine, path)


def check_affine(affine: np.ndarray, path: str | Path) -> None:
    """DataError naming ``path`` unless ``affine`` is finite, invertible and has voxel sizes
    in :data:`SPACING_RANGE_MM` (it maps voxels to mm: resampling inverts it)."""
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise DataError(f"{path}: non-finite voxel-to-world affine (qform/sform)")
    sizes = np.linalg.norm(affine[:3, :3], axis=0)
    low, high = SPACING_RANGE_MM
    if not ((sizes >= low) & (sizes <= high)).all():
        spacing = "x".join(f"{v:.4g}" for v in sizes)
        raise DataError(
            f"{path}: implausible voxel size {spacing} mm (expected {low:g} to {high:g} mm)"
        )
    # relative to the voxel sizes: a rotation-with-zoom has |det| = product of the sizes
    if abs(float(np.linalg.det(affine[:3, :3]))) < 1e-6 * float(np.prod(sizes)):
        raise DataError(f"{path}: singular voxel-to-world affine (axes not independent)")


def spatial_shape(image: nib.Nifti1Image, path: str | Path) -> tuple[int, int, int]:
    """The 3D shape (a trailing singleton 4th axis dropped); DataError for 2D or 4D."""
    shape = tuple(int(s) for s in image.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise DataError(f"{path}: expected a 3D volume, got shape {shape} ({len(shape)}D)")
    return shape


def load_volume(path: str | Path, kind: VolumeKind = "image") -> Volume:
    """Read and validate one 3D volume as float32 (labels keep their integer values).

    Every failure (header, truncated or corrupt voxels, non-finite values) is a DataError
    naming the file.
    """
    path = Path(path)
    image = load_header(path)
    shape = spatial_shape(image, path)
    try:
        with np.errstate(all="ignore"):  # an overflowing scale gives inf: refused below
            data = np.asarray(image.dataobj, dtype=np.float32)
        data = data.reshape(shape)  # drop trailing singleton axes
        affine = np.asarray(image.affine, dtype=np.float64).copy()
        header = image.header.copy()
    except MemoryError:
        raise DataError(f"{path}: too large to read into memory ({shape})") from None
    except Exception as error:  # gzip, zlib, nibabel and numpy each raise their own
        raise DataError(f"{path}: truncated or corrupt voxel data ({_reason(error)})") from None
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"{path}: {bad} non-finite voxels (NaN or inf)")
    if kind in ("seg", "mask"):
        data = np.rint(data)
    return Volume(data=data, affine=affine, header=header, path=path)


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
    if data.dtype.kind in "fc" and not np.isfinite(data).all():
        # a diverged model or a corrupt input: a NaN volume must never pass for a result
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"{path}: not written: {bad} of {data.size} voxels are NaN or inf")
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
    try:
        # exclusive unless replacing: of two processes writing one new file, one wins
        with atomic_path(path, suffix=suffix, exclusive=not overwrite) as tmp:
            nib.save(image, tmp)
    except FileExistsError:
        raise OutputExistsError(f"{path}: exists (written meanwhile by another process)") from None
    return path
