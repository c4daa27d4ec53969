"""One patient's flat folder: the modality read from each file name, the case name before it,
and an ambiguous folder refused with both files named."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmhvae.data.patient import NamedFile, common_prefix, read_name, read_patient_folder
from mmhvae.errors import DataError

from .volumes import brain_volume, write_nifti


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("t1.nii.gz", NamedFile("t1", "")),
        ("patient7_flair.nii.gz", NamedFile("flair", "patient7")),
        ("BraTS-GLI-00001-000-t1c.nii.gz", NamedFile("t1ce", "BraTS-GLI-00001-000")),
        ("BraTS-GLI-00001-000-t2f.nii", NamedFile("flair", "BraTS-GLI-00001-000")),
        ("T1c_subtrMeanDivStd.nii.gz", NamedFile("t1ce", "")),
        ("OtherEXampleFromTCIA_fla_bet.nii.gz", NamedFile("flair", "OtherEXampleFromTCIA")),
        ("sub01_t1_gd.nii.gz", NamedFile("t1ce", "sub01")),  # a pair before its last token
        ("case 3 T2w.nii.gz", NamedFile("t2", "case 3")),
        ("brainmask.nii.gz", NamedFile("mask", "")),
        ("x_seg.nii.gz", NamedFile("seg", "x")),
        ("notes.nii.gz", None),
    ],
)
def test_the_modality_is_the_right_most_token(name: str, expected: NamedFile | None) -> None:
    assert read_name(name) == expected


def test_the_case_name_is_the_common_prefix() -> None:
    brats = {
        "t1": Path("BraTS-GLI-00001-000-t1n.nii.gz"),
        "t2": Path("BraTS-GLI-00001-000-t2w.nii.gz"),
    }
    assert common_prefix(brats) == "BraTS-GLI-00001-000"
    assert common_prefix({"t1": Path("a_t1.nii.gz"), "t2": Path("b_t2.nii.gz")}) is None
    assert common_prefix({"t1": Path("t1.nii.gz")}) is None
    # the token must be the modality the file is given for
    assert common_prefix({"t2": Path("p_t1.nii.gz")}) is None


def test_a_folder_gives_images_and_mask_and_refuses_two_of_a_kind(tmp_path: Path) -> None:
    for name in ("p7_t1.nii.gz", "p7_flair.nii.gz", "p7_seg.nii.gz", "notes.nii.gz"):
        write_nifti(tmp_path / "a" / name, brain_volume())
    write_nifti(tmp_path / "a" / "p7_mask.nii.gz", (brain_volume() > 0).astype("uint8"))
    (tmp_path / "a" / "readme.txt").write_text("not a volume")
    found = read_patient_folder(tmp_path / "a")
    assert found.images == {
        "t1": tmp_path / "a" / "p7_t1.nii.gz",
        "flair": tmp_path / "a" / "p7_flair.nii.gz",
    }
    assert found.mask == tmp_path / "a" / "p7_mask.nii.gz" and found.case_id == "p7"
    write_nifti(tmp_path / "a" / "p7_FLAIR.nii", brain_volume())
    with pytest.raises(DataError, match=r"two files for flair \(p7_FLAIR.nii, p7_flair.nii.gz\)"):
        read_patient_folder(tmp_path / "a")
    with pytest.raises(DataError, match="not a folder"):
        read_patient_folder(tmp_path / "missing")
