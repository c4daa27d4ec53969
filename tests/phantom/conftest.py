"""Phantom fixtures: a few complete 2 mm cases (made once per session) and real-data ratios."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mmhvae.phantom.anatomy import Size, load_templates
from mmhvae.phantom.calibrate import grey_white_ratios
from mmhvae.phantom.generate import PHANTOM_MODALITIES, PhantomCase, make_case

REAL_COMPLETE = ("brats-met-00110", "tcga-fg-6692", "unknown-glioma")
MR = ("t1", "t1ce", "t2", "flair")


@pytest.fixture(scope="session")
def complete_cases() -> list[PhantomCase]:
    """Three phantom cases with every modality (seed 0, 2 mm)."""
    template = load_templates(Size.MM2)
    return [make_case(i, template, PHANTOM_MODALITIES, 0.0, seed=0) for i in range(3)]


@pytest.fixture(scope="session")
def real_ratios(shared_data: Path) -> dict[str, float]:
    """Mean over the three complete real cases of GM/WM per contrast (k-means classes on T1)."""
    rows = list(csv.DictReader((shared_data / "cases.csv").open()))
    per_case = []
    for case in REAL_COMPLETE:
        paths = {r["modality"]: shared_data / r["path"] for r in rows if r["case"] == case}
        volumes = {
            m: np.asarray(nib.load(paths[m]).dataobj, dtype=np.float32)  # type: ignore[attr-defined]
            for m in (*MR, "seg")
        }
        seg = volumes.pop("seg")
        per_case.append(grey_white_ratios(volumes, seg))
    return {m: float(np.mean([r[m] for r in per_case])) for m in MR}
