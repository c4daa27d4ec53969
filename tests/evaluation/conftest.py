"""One real BraTS case on the evaluator's terms: RAS voxel order, protocol normalisation."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

CASE = "Brats18_2013_11_1"


@pytest.fixture(scope="session")
def real_case(shared_more: Path) -> dict[str, np.ndarray]:
    """flair and t2 in [0, 1] (0.5/99.5 percentiles inside the mask), mask, seg: (X, Y, Z)."""
    folder = shared_more / "deepbrainseg" / "sample_volume" / "brats" / CASE

    def read(name: str) -> np.ndarray:
        image = nib.as_closest_canonical(nib.load(folder / f"{CASE}_{name}.nii.gz"))
        return np.asarray(image.dataobj, dtype=np.float64)

    raw = {m: read(m) for m in ("flair", "t2")}
    mask = np.any([v > 0 for v in raw.values()], axis=0)
    out: dict[str, np.ndarray] = {"mask": mask, "seg": read("seg")}
    for m, v in raw.items():
        lo, hi = np.percentile(v[mask], [0.5, 99.5])
        out[m] = np.where(mask, np.clip((v - lo) / (hi - lo), 0, 1), 0.0)
    return out
