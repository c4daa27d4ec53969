"""What marks a NIfTI file as synthetic, so that it is never taken for a real scan.

mmhvae writes two marks on every file it synthesises (synthesis/provenance.py): the header's
``descrip`` starts with :data:`DESCRIP_PREFIX`, and a JSON sidecar ``NAME.json`` beside
``NAME.nii.gz`` says ``"synthetic": true``. Either mark is enough: a sidecar can be lost in
a copy, a header rewritten by another tool. Discovery (data/layouts.py) leaves marked files
out of a case unless asked to keep them; a BIDS-style sidecar of a real scan (no
``"synthetic": true``) does not count.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from mmhvae.data.nifti import strip_nifti_suffix

DESCRIP_PREFIX = "mmhvae synthetic"


def sidecar_path(nifti: str | Path) -> Path:
    """``a/NAME.nii.gz`` -> ``a/NAME.json``."""
    path = Path(nifti)
    return path.with_name(strip_nifti_suffix(path.name) + ".json")


def synthetic_mark(path: str | Path) -> str | None:
    """Why ``path`` is synthetic ("sidecar NAME.json" or "header descrip"), or None.

    Never raises: an unreadable file or sidecar carries no mark (the loader reports it)."""
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if isinstance(record, dict) and record.get("synthetic") is True:
            return f"sidecar {sidecar.name}"
    try:
        header = nib.load(path).header  # header only, voxels are not read
        raw = np.asarray(header["descrip"]).item()  # type: ignore[index]
    except Exception:  # nibabel raises many types for a foreign or damaged file
        return None
    descrip = raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else str(raw)
    return "header descrip" if descrip.startswith(DESCRIP_PREFIX) else None
