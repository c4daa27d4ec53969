"""``mmhvae predict`` through the CLI: --input FOLDER, --mask, --format brasyn | nnunet | cases,
the marker and --overwrite, and every refusal named (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.data.volumes import brain_volume, oblique_affine, write_nifti

from mmhvae.cli.main import main
from mmhvae.output_folder import MARKER

SHAPE = (24, 20, 6)
AFFINE = oblique_affine(zooms=(4.0, 4.0, 6.0))
CASE = "BraTS-GLI-00007-000"


def patient(folder: Path, names: dict[str, int]) -> Path:
    """``folder/NAME`` for each file name, a brain volume with the given seed."""
    for name, seed in names.items():
        write_nifti(folder / name, brain_volume(SHAPE, seed=seed), AFFINE)
    return folder


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def predict(model: Path, *args: str) -> int:
    return main(["predict", "--model", str(model), "--device", "cpu", *args])


def test_brasyn_from_a_folder_with_its_mask_and_the_overwrite_rules(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = patient(tmp_path / "in", {f"{CASE}-t1n.nii.gz": 0, f"{CASE}-t1c.nii.gz": 1})
    patient(folder, {f"{CASE}-t2f.nii.gz": 2, f"{CASE}-seg.nii.gz": 3})  # seg: not an input
    mask = np.zeros(SHAPE, np.uint8)
    mask[:12] = 1  # half of the brain only
    write_nifti(folder / "brainmask.nii.gz", mask, AFFINE)
    out = tmp_path / "out"
    argv = ["--input", str(folder), "-o", str(out), "--format", "brasyn", "--samples", "2"]
    assert predict(tiny_model, *argv) == 0
    name = f"{CASE}-t2w"
    assert tree(out) == [
        MARKER, f"{name}.nii.gz", f"provenance/{name}.json",
        f"std/{name}_std.json", f"std/{name}_std.nii.gz",
    ]  # fmt: skip
    image = nib.load(out / f"{name}.nii.gz")
    np.testing.assert_allclose(image.affine, nib.load(folder / f"{CASE}-t1c.nii.gz").affine)
    data = np.asarray(image.dataobj)
    assert np.all(data[12:] == 0) and np.any(data[:12] > 0)  # the given mask, not voxels > 0
    record = json.loads((out / "provenance" / f"{name}.json").read_text())
    assert set(record["inputs"]) == {"t1", "t1ce", "flair", "mask"}
    # into the folder mmhvae made: refused when it exists, replaced with --overwrite
    capsys.readouterr()
    assert predict(tiny_model, *argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    first = (out / f"{name}.nii.gz").read_bytes()
    assert predict(tiny_model, *argv, "--overwrite", "--seed", "3") == 0
    assert (out / f"{name}.nii.gz").read_bytes() != first
    # a folder without the marker is never written into, even with --overwrite
    (out / MARKER).unlink()
    assert predict(tiny_model, *argv, "--overwrite") == 2
    assert "no .mmhvae-output marker" in capsys.readouterr().err


def test_nnunet_from_single_files_and_a_case_id(tiny_model: Path, tmp_path: Path) -> None:
    files = patient(tmp_path / "in", {"a.nii.gz": 0, "b.nii.gz": 1})
    spec = tmp_path / "dataset.json"
    channels = {"0": "FLAIR", "1": "T1", "2": "T1ce", "3": "T2"}
    spec.write_text(json.dumps({"channel_names": channels, "file_ending": ".nii.gz"}))
    out = tmp_path / "nn"
    argv = ["--t1ce", str(files / "a.nii.gz"), "--flair", str(files / "b.nii.gz"), "-o", str(out)]
    argv += ["--format", "nnunet", "--dataset-json", str(spec), "--samples", "2"]
    assert predict(tiny_model, *argv, "--case-id", "patient7") == 0
    images = sorted(p.name for p in (out / "imagesTs").glob("*.nii.gz"))
    assert images == [f"patient7_{i:04d}.nii.gz" for i in range(4)]
    assert (out / "imagesTs" / "patient7_0000.nii.gz").read_bytes() == (
        files / "b.nii.gz"
    ).read_bytes()
    assert (out / "imagesTs" / "patient7_0002.nii.gz").read_bytes() == (
        files / "a.nii.gz"
    ).read_bytes()
    assert tree(out / "std") == ["patient7_0001_std.json", "patient7_0001_std.nii.gz",
                                 "patient7_0003_std.json", "patient7_0003_std.nii.gz"]  # fmt: skip


def test_cases_from_a_folder_puts_the_std_maps_apart(tiny_model: Path, tmp_path: Path) -> None:
    folder = patient(tmp_path / "in", {"t1.nii.gz": 0, "patient7_flair.nii.gz": 1})
    out = tmp_path / "out"
    assert predict(tiny_model, "--input", str(folder), "-o", str(out), "--samples", "2") == 0
    assert tree(out) == [
        "std/t1ce_synth_std.json", "std/t1ce_synth_std.nii.gz",
        "std/t2_synth_std.json", "std/t2_synth_std.nii.gz",
        "t1ce_synth.json", "t1ce_synth.nii.gz", "t2_synth.json", "t2_synth.nii.gz",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"t1.nii.gz": 0, "x_T1n.nii.gz": 1}, [], "two files for t1 (t1.nii.gz, x_T1n.nii.gz)"),
        ({"t1.nii.gz": 0, "flair.nii.gz": 1}, ["--format", "brasyn"], "give --case-id"),
        ({"t1.nii.gz": 0}, ["--case-id", "P1", "--format", "brasyn"], "BraTS-GLI-XXXXX-YYY"),
        ({"t1.nii.gz": 0}, ["--dataset-json", "x.json"], "--dataset-json applies to --format"),
        ({"t1.nii.gz": 0}, ["--t2", "t1.nii.gz"], "not both"),
        ({"notes.nii.gz": 0}, [], "no image whose name holds a modality"),
    ],
)  # fmt: skip
def test_refusals_are_named(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, int],
    args: list[str],
    message: str,
) -> None:
    folder = patient(tmp_path / "in", files)
    capsys.readouterr()
    assert predict(tiny_model, "--input", str(folder), "-o", str(tmp_path / "o"), *args) == 2
    assert message in capsys.readouterr().err


def test_a_mask_off_the_inputs_grid_is_refused(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = patient(tmp_path / "in", {"t1.nii.gz": 0})
    write_nifti(tmp_path / "mask.nii.gz", np.ones((24, 20, 5), np.uint8), AFFINE)
    argv = [
        "--input",
        str(folder),
        "--mask",
        str(tmp_path / "mask.nii.gz"),
        "-o",
        str(tmp_path / "o"),
    ]
    assert predict(tiny_model, *argv) == 2
    assert "mask.nii.gz: the mask is on 24x20x5" in capsys.readouterr().err
