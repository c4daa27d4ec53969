"""A PNG montage of one case: every modality at a few axial levels, plus the tumour outline.

Rows are axial levels (through the tumour centre and above/below it), columns the modalities
in canonical order and a last column with the segmentation outline (necrosis red, oedema
green, enhancing yellow) on the first MR contrast. Each modality is windowed to its own
0.5-99.5 percentiles of the non-zero voxels, as a radiologist's viewer would; ultrasound,
already log-compressed (B-mode, 0-255), is shown on that fixed scale as a scanner would.
Volumes are ``(X, Y, Z)`` on RAS voxel axes; a tile shows ``[:, :, z]`` with anterior up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage

from mmhvae.data.modalities import CANONICAL_ORDER
from mmhvae.errors import DataError

LABEL_COLOURS = {1: (255, 40, 40), 2: (40, 220, 40), 4: (255, 230, 0)}


def load_case_arrays(case_dir: Path) -> dict[str, NDArray[np.float32]]:
    """``{modality or "seg": volume}`` of a BraTS 2021 case folder (``{folder}_{m}.nii.gz``)."""
    arrays: dict[str, NDArray[np.float32]] = {}
    for name in (*CANONICAL_ORDER, "seg"):
        path = case_dir / f"{case_dir.name}_{name}.nii.gz"
        if path.is_file():
            image = cast(nib.Nifti1Image, nib.load(path))
            arrays[name] = np.asarray(image.dataobj, dtype=np.float32)
    if not arrays:
        raise DataError(f"{case_dir}: no {case_dir.name}_<modality>.nii.gz files to draw")
    return arrays


def axial_levels(arrays: Mapping[str, NDArray[np.floating]], count: int) -> list[int]:
    """``count`` axial indices: centred on the tumour (or the brain), 12% of the height apart."""
    seg = arrays.get("seg")
    reference = seg if seg is not None and np.any(seg > 0) else next(iter(arrays.values()))
    z = np.flatnonzero(np.any(np.asarray(reference) > 0, axis=(0, 1)))
    depth = next(iter(arrays.values())).shape[2]
    centre = int(np.round(z.mean())) if z.size else depth // 2
    gap = max(1, int(0.12 * depth))
    offsets = np.arange(count) - (count - 1) / 2
    return [int(np.clip(centre + gap * o, 0, depth - 1)) for o in offsets]


def _window(volume: NDArray[np.generic]) -> NDArray[np.float32]:
    values = np.asarray(volume, dtype=np.float32)
    inside = values[values > 0]
    if inside.size == 0:
        return np.zeros_like(values)
    lo, hi = np.percentile(inside, [0.5, 99.5])
    return np.clip((values - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)


def _b_mode(volume: NDArray[np.generic]) -> NDArray[np.float32]:
    """Ultrasound is stored log-compressed (B-mode, 0-255 as scanners export it) and is shown
    with that fixed window; a volume outside that range gets the percentile window."""
    values = np.asarray(volume, dtype=np.float32)
    if values.min() < 0 or values.max() > 255:
        return _window(values)
    return values / 255.0


def _tile(slice_2d: NDArray[np.float32]) -> NDArray[np.float32]:
    return slice_2d.T[::-1]  # (Y, X) with anterior up


def phantom_montage(
    source: str | Path | Mapping[str, NDArray[np.floating]],
    path: str | Path,
    levels: int = 3,
    zoom: int = 2,
) -> Path:
    """Draw ``source`` (a case folder, or ``{modality or "seg": (X, Y, Z)}``) to PNG ``path``."""
    arrays = load_case_arrays(Path(source)) if isinstance(source, (str, Path)) else dict(source)
    seg = arrays.pop("seg", None)
    modalities = [m for m in CANONICAL_ORDER if m in arrays]
    if not modalities:
        raise DataError(f"{path}: nothing to draw (no modality volumes)")
    windowed = {m: _b_mode(arrays[m]) if m == "us" else _window(arrays[m]) for m in modalities}
    zs = axial_levels({**arrays, **({"seg": seg} if seg is not None else {})}, levels)
    mr = [m for m in modalities if m != "us"]
    base = windowed[mr[0] if mr else modalities[0]]
    columns = modalities + (["seg"] if seg is not None else [])
    x, y, _ = base.shape
    tile_w, tile_h, header = x * zoom, y * zoom, 16
    canvas = Image.new("RGB", (tile_w * len(columns), header + tile_h * len(zs)))
    draw = ImageDraw.Draw(canvas)
    for col, name in enumerate(columns):
        draw.text((col * tile_w + 4, 2), name, fill=(255, 255, 255))
        for row, z in enumerate(zs):
            grey = _tile(base[:, :, z] if name == "seg" else windowed[name][:, :, z])
            rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)  # (Y, X, 3)
            if name == "seg" and seg is not None:
                labels = _tile(np.asarray(seg[:, :, z]))
                for label, colour in LABEL_COLOURS.items():
                    region = labels == label
                    rgb[region & ~ndimage.binary_erosion(region)] = colour
            image = Image.fromarray(rgb).resize((tile_w, tile_h), Image.Resampling.BILINEAR)
            canvas.paste(image, (col * tile_w, header + row * tile_h))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    canvas.save(tmp, format="PNG")
    tmp.replace(path)
    return path
