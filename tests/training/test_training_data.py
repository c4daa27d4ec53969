"""The training data's 8-bit standardisation (training/data.py with data/standardise.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
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


def test_a_trained_model_maps_8bit_inputs_at_synthesis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The landmarks of training travel in the checkpoint (and an exported model) to
    synthesis, where the 8-bit case's input is mapped to them; a full-precision case is read
    as it is."""
    from tests.training.conftest import build_fake

    from mmhvae.data.case import load_case
    from mmhvae.data.layouts import discover_cases
    from mmhvae.methods import METHODS
    from mmhvae.methods.sampling import SamplingOptions
    from mmhvae.runs import export_checkpoint, load_method
    from mmhvae.synthesis.case import SynthesisPlan, synthesize_loaded_case
    from mmhvae.training.trainer import fit

    monkeypatch.setitem(METHODS, "fake", build_fake)
    cases_csv = _dataset(tmp_path)
    config = load_config(
        "tiny",
        [
            "method=fake",
            "model.image_size=16",
            "data.spacing=0",
            "data.val_cases=0",
            "train.steps=1",
            "train.gan=false",
            "train.num_workers=0",
            "train.batch_size=2",
            "train.val_slices=2",
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(config, cases_csv, tmp_path / "run")
        data = build_training_data(config, cases_csv, tmp_path / "cache", progress=False)
    assert sorted(data.intensity_landmarks) == ["t1", "t2"]
    method, _, _ = load_method(tmp_path / "run")
    assert method.intensity_landmarks == data.intensity_landmarks
    export_checkpoint(tmp_path / "run", tmp_path / "model.pt")
    assert load_method(tmp_path / "model.pt")[0].intensity_landmarks == data.intensity_landmarks
    assert result.method is not None
    files = {f.case_id: f for f in discover_cases(cases_csv)}
    plan = SynthesisPlan(inputs=("t2",), targets=("t1",))
    options = SamplingOptions(temperature=0.0, samples=1, seed=0, batch_size=8)

    def synthesis(case_id: str, landmarks: dict[str, list[float]]) -> np.ndarray:
        method.intensity_landmarks = landmarks
        case = load_case(files[case_id], ("t1", "t2"))
        return synthesize_loaded_case(method, case, config, plan, options)["t1"][0]

    with pytest.warns(UserWarning, match="case c: t2 is stored in 8 bits: mapped"):
        mapped = synthesis("c", data.intensity_landmarks)
    difference = np.abs(mapped - synthesis("c", {})).max()
    assert difference > 1e-4, difference
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a full-precision case: no mapping, no warning
        np.testing.assert_array_equal(synthesis("a", data.intensity_landmarks), synthesis("a", {}))
    assert result.method.intensity_landmarks == data.intensity_landmarks  # fit() gives them too
    # the Python API and `mmhvae predict`, which read one patient's files or arrays
    from mmhvae.synthesis.api import Synthesizer
    from mmhvae.synthesis.predict import predict_files

    method.intensity_landmarks = data.intensity_landmarks
    synth = Synthesizer(method, config)
    t2 = files["c"].images["t2"]
    raw = np.asarray(nib.load(t2).dataobj)  # uint8
    assert raw.dtype == np.uint8
    for given in (t2, nib.load(t2), raw):
        with pytest.warns(UserWarning, match="t2 is stored in 8 bits: mapped"):
            out = synth({"t2": given}, affine=nib.load(t2).affine, temperature=0.0)
        np.testing.assert_allclose(out["t1"].mean, mapped, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same image as float32: read as it is
        as_float = synth({"t2": raw.astype(np.float32)}, affine=nib.load(t2).affine)
    assert np.abs(as_float["t1"].mean - mapped).max() > 1e-4
    with pytest.warns(UserWarning, match="t2 is stored in 8 bits: mapped"):
        predict_files(tmp_path / "model.pt", {"t2": t2}, tmp_path / "pred", temperature=0.0)
