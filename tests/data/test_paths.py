"""Path traversal: case ids and suffixes can never put an output outside the output folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmhvae.data.layouts import CaseFiles, Layout, discover_cases
from mmhvae.errors import DataError
from mmhvae.synthesis.dataset import output_paths, synthesize_dataset

from .volumes import brain_volume, write_nifti

BAD_IDS = ["../../escape", "..", ".", "a/b", "a\\b", "/abs/case", "C:evil", "two\nlines", "tab\tx"]


def _manifest(tmp_path: Path, case_id: str) -> Path:
    write_nifti(tmp_path / "t1.nii.gz", brain_volume())
    manifest = tmp_path / "cases.csv"
    quoted = '"' + case_id.replace('"', '""') + '"'
    manifest.write_text(
        f"case,modality,path,kind\nok,t1,t1.nii.gz,image\n{quoted},t1,t1.nii.gz,image\n"
    )
    return manifest


@pytest.mark.parametrize("case_id", BAD_IDS)
def test_csv_case_ids_that_could_leave_the_folder_are_refused_with_file_and_line(
    tmp_path: Path, case_id: str
) -> None:
    manifest = _manifest(tmp_path, case_id)
    with pytest.raises(DataError) as caught:
        discover_cases(manifest)
    message = str(caught.value)
    assert f"{manifest}, line 3" in message
    assert "case id" in message


def test_a_plain_case_id_is_accepted(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "Case-001_a.b")
    assert [c.case_id for c in discover_cases(manifest)] == ["Case-001_a.b", "ok"]


def test_a_folder_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    case = "bad\nname"
    write_nifti(tmp_path / case / f"{case}_t1.nii.gz", brain_volume())
    with pytest.raises(DataError, match="case id"):
        discover_cases(tmp_path, layout="brats2021")


@pytest.mark.parametrize("case_id", BAD_IDS)
def test_output_paths_refuse_ids_built_in_code(tmp_path: Path, case_id: str) -> None:
    """Even a CaseFiles made without discovery cannot name a file outside the output."""
    files = CaseFiles(case_id, {"t1": tmp_path / "t1.nii.gz"}, None, None, Layout.CSV)
    with pytest.raises(DataError):
        output_paths(files, tmp_path / "out", "t2", "_synth", with_std=True)


@pytest.mark.parametrize("suffix", ["/../../X", "_a/b", "..", "x\ny", "\\..\\x"])
def test_a_suffix_with_a_separator_is_refused(tmp_path: Path, suffix: str) -> None:
    files = CaseFiles("ok", {"t1": tmp_path / "t1.nii.gz"}, None, None, Layout.CSV)
    with pytest.raises(DataError, match="--suffix"):
        output_paths(files, tmp_path / "out", "t2", suffix, with_std=False)
    with pytest.raises(DataError, match="--suffix"):
        synthesize_dataset(tmp_path / "no-model", tmp_path, tmp_path / "out", suffix=suffix)


def test_a_case_folder_linked_out_of_the_output_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    case = "BraTS2021_00000"
    os.symlink(outside, out / case)
    files = CaseFiles(
        case, {"t1": tmp_path / "t1.nii.gz"}, None, None, Layout.BRATS2021, tmp_path / case
    )
    with pytest.raises(DataError, match="outside the output folder"):
        output_paths(files, out, "t2", "_synth", with_std=False)
    ok_mean, _ = output_paths(files, tmp_path / "fresh", "t2", "_synth", with_std=False)
    assert ok_mean == tmp_path / "fresh" / case / f"{case}_t2_synth.nii.gz"


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    write_nifti(tmp_path / "t1.nii.gz", brain_volume())
    manifest = tmp_path / "cases.csv"
    manifest.write_bytes(b"\xef\xbb\xbfcase,modality,path,kind\r\nc1,t1,t1.nii.gz,image\r\n")
    assert [c.case_id for c in discover_cases(manifest)] == ["c1"]


def test_a_csv_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").mkdir()
    for layout in (None, "csv"):
        with pytest.raises(DataError, match="is a folder, not a CSV manifest"):
            discover_cases(tmp_path / "cases.csv", layout=layout)


def test_an_output_may_not_replace_an_input(tmp_path: Path) -> None:
    """An empty suffix beside the inputs is allowed (outputs are marked synthetic, so
    discovery leaves them out: tests/synthesis/test_dataset.py), replacing an input is not."""
    from mmhvae.synthesis.formats import refuse_input_overlap

    t1 = write_nifti(tmp_path / "c1_t1.nii.gz", brain_volume())
    files = CaseFiles("c1", {"t1": t1}, None, None, Layout.CSV)
    mean, _ = output_paths(files, tmp_path, "t2", "", with_std=False)
    refuse_input_overlap(files, [mean])
    same, _ = output_paths(files, tmp_path, "t1", "", with_std=False)
    with pytest.raises(DataError, match="would replace an input file"):
        refuse_input_overlap(files, [same])
