"""The training data's 8-bit standardisation (training/data.py with data/standardise.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from tests.data.volumes import brain_volume, write_nifti

from mmhvae.config import load_config
from mmhvae.data.standardise import landmarks
from mmhvae.training.data import build_training_data


def _dataset(folder: Path) -> Path:
    """Three cases of T1 and T2: two stored as int16, one as uint8 with a darker T2."""
    rows = ["case,modality,path,kind"]
    for case, dtype, seed in (("a", np.int16, 0), ("b", np.int16, 5), ("c", np.uint8, 9)):
        for i, m in enumerate(("t1", "t2")):
            data = brain_volume((20, 20, 8), seed=seed + i) * 100
            if dtype == np.uint8 and m == "t2":
                data = data**2 / 200  # another contrast of the same anatomy, 50..200
            path = write_nifti(folder / f"{case}_{m}.nii.gz", data.astype(dtype), np.eye(4))
            rows.append(f"{case},{m},{path},image")
    (folder / "cases.csv").write_text("\n".join(rows) + "\n")
    return folder / "cases.csv"


@pytest.mark.parametrize("standardise", [True, False])
def test_the_8bit_case_trains_on_the_landmarks_of_the_others(tmp_path, standardise) -> None:
    config = load_config(
        "tiny",
        [
            "model.image_size=16",
            "data.spacing=0",
            "data.val_cases=0",
            "data.augment.enabled=false",
            f"data.standardise_8bit={str(standardise).lower()}",
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = build_training_data(config, _dataset(tmp_path), tmp_path / "cache", progress=False)
    cases = {c.case_id: c for c in data.train.cases}
    t2 = cases["c"].modalities.index("t2")
    reference = np.mean([landmarks(cases[k].images[t2], cases[k].mask) for k in "ab"], axis=0)
    coarse = landmarks(cases["c"].images[t2], cases["c"].mask)
    assert np.allclose(coarse, reference, atol=0.03) is standardise
