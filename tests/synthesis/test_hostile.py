"""One bad case is that case's failure: synthesize and evaluate report it, skip it, write the
good cases and exit 1 (never a traceback, never the whole run lost)."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.data.volumes import brain_volume

from mmhvae.cli.main import main

from .tiny_run import write_manifest

GOOD = "tcga-fg-6692"


def _bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((12, 10, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), folder / "rgb.nii.gz")
    singular = np.eye(4)
    singular[:3, 1] = singular[:3, 0]  # two voxel axes along the same world direction
    nib.save(nib.Nifti1Image(brain_volume(), singular), folder / "singular.nii.gz")
    far = np.eye(4)
    far[:3, 3] = 5000.0  # 5 m away from the reference grid: nothing left once resampled
    nib.save(nib.Nifti1Image(brain_volume(), far), folder / "far.nii.gz")
    return {
        "rgb": folder / "rgb.nii.gz",
        "singular": folder / "singular.nii.gz",
        "far": folder / "far.nii.gz",
    }


@pytest.fixture(scope="module")
def mixed_cases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The good real case, two cases with a bad only image, and the good case's flair
    placed 5 m away in a third case."""
    folder = tmp_path_factory.mktemp("mixed")
    manifest = write_manifest(shared_data, (GOOD,), folder / "cases.csv")
    bad = _bad_files(folder / "bad")
    with manifest.open("a", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rgb-case", "t1", bad["rgb"], "image"])
        writer.writerow(["singular-case", "t1", bad["singular"], "image"])
        with (shared_data / "cases.csv").open(newline="") as source:
            rows = [r for r in csv.DictReader(source) if r["case"] == GOOD]
        t1 = next(r for r in rows if r["modality"] == "t1")
        writer.writerow(["far-case", "t1", shared_data / t1["path"], "image"])
        writer.writerow(["far-case", "flair", bad["far"], "image"])
    return manifest


def test_synthesize_reports_bad_cases_and_writes_the_good_one(
    tiny_model: Path, mixed_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["synthesize", "--model", str(tiny_model), "--input", str(mixed_cases)]
    argv += ["--output", str(out), "--leave-out", "t2", "--device", "cpu"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "FAILED rgb-case" in captured.err and "rgb.nii.gz: non-scalar voxel type" in captured.err
    assert "FAILED singular-case" in captured.err and "singular.nii.gz: singular" in captured.err
    # the far flair is absent (all zero once on the t1 grid), named with both grids
    assert "far.nii.gz is all zero after resampling" in captured.err
    assert (out / f"{GOOD}_t2_synth.nii.gz").is_file()
    assert (out / "far-case_flair_synth.nii.gz").is_file()  # synthesised, not "resampled"
    for path in out.glob("*.nii.gz"):  # beside each: its provenance sidecar NAME.json
        assert np.isfinite(np.asarray(nib.load(path).dataobj)).all()


def test_evaluate_reports_bad_cases_and_scores_the_good_one(
    tiny_model: Path, mixed_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(mixed_cases), "--out", str(out)]
    argv += ["--scenarios", "single-missing", "--no-lpips", "--no-montages", "--device", "cpu"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "FAILED rgb-case" in captured.err and "FAILED singular-case" in captured.err
    with (out / "per_case.csv").open(newline="") as handle:
        cases = {row["case"] for row in csv.DictReader(handle)}
    assert GOOD in cases and "rgb-case" not in cases
