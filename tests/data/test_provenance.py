"""Files marked synthetic (sidecar or descrip) are never taken for real inputs unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pytest

from mmhvae.cli.main import main
from mmhvae.data.layouts import discover_cases
from mmhvae.data.provenance import DESCRIP_PREFIX, sidecar_path, synthetic_mark
from mmhvae.errors import DataError
from mmhvae.synthesis.provenance import ModelRecord, descrip, marked_header

from .volumes import brain_volume, write_nifti


def _case(folder: Path) -> Path:
    """A BraTS 2021 case folder with t1ce and flair."""
    for m in ("t1ce", "flair"):
        write_nifti(folder / "Case1" / f"Case1_{m}.nii.gz", brain_volume())
    return folder / "Case1"


def _mark_descrip(path: Path, text: bytes) -> None:
    image = nib.load(path)
    nib.save(
        nib.Nifti1Image(image.get_fdata(), image.affine, marked_header(image.header, text)), path
    )


def test_sidecar_path() -> None:
    assert sidecar_path("/a/b/C_t1.nii.gz") == Path("/a/b/C_t1.json")
    assert sidecar_path("C_t1.nii") == Path("C_t1.json")


def test_either_mark_is_enough_and_a_bids_sidecar_is_not_one(tmp_path: Path) -> None:
    case = _case(tmp_path)
    flair, t1ce = case / "Case1_flair.nii.gz", case / "Case1_t1ce.nii.gz"
    assert synthetic_mark(flair) is None
    sidecar_path(t1ce).write_text(json.dumps({"EchoTime": 0.017}))  # a real scan's BIDS sidecar
    assert synthetic_mark(t1ce) is None
    sidecar_path(flair).write_text(json.dumps({"synthetic": True}))
    assert synthetic_mark(flair) == "sidecar Case1_flair.json"
    sidecar_path(flair).unlink()  # the sidecar lost in a copy: the header still says it
    _mark_descrip(flair, f"{DESCRIP_PREFIX} flair from t1ce; model r 0123abcd".encode())
    assert synthetic_mark(flair) == "header descrip"
    (case / "Case1_broken.json").write_text("{not json")
    assert synthetic_mark(case / "Case1_broken.nii.gz") is None  # nothing there: no mark


def test_discovery_leaves_synthetic_files_out_unless_allowed(tmp_path: Path, capsys) -> None:
    case = _case(tmp_path)
    flair = case / "Case1_flair.nii.gz"
    sidecar_path(flair).write_text(json.dumps({"synthetic": True}))
    (found,) = discover_cases(tmp_path)
    assert set(found.images) == {"t1ce"} and found.synthetic == {"flair": flair}
    (kept,) = discover_cases(tmp_path, allow_synthetic=True)
    assert set(kept.images) == {"t1ce", "flair"} and not kept.synthetic

    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Case1_flair.nii.gz is marked synthetic (sidecar Case1_flair.json)" in out
    assert "available: t1ce 1 (of 1)" in out
    assert main(["info", str(tmp_path), "--allow-synthetic"]) == 0
    assert "flair 1" in capsys.readouterr().out
    assert main(["info", str(tmp_path), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["cases"]
    assert record["synthetic"] == {"flair": str(flair)} and "flair" not in record["files"]

    sidecar_path(case / "Case1_t1ce.nii.gz").write_text(json.dumps({"synthetic": True}))
    with pytest.raises(DataError, match="every image is marked synthetic.*--allow-synthetic"):
        discover_cases(tmp_path)


def test_descrip_fits_the_header_and_names_everything() -> None:
    model = ModelRecord("/runs/a-very-long-run-name-" + "x" * 80, "/c.pt", "0123abcd" * 8, "mmhvae")
    text = descrip("t2", ("t1", "t1ce", "flair"), model)
    assert len(text) <= 80 and text.startswith(b"mmhvae synthetic t2 from t1+t1ce+flair; model ")
    assert text.endswith(b" 0123abcd")  # the checksum survives, the long name is cut
    short = ModelRecord("/runs/r1", "/c.pt", "ff" * 32, "mmhvae")
    assert (
        descrip("t1", ("t2",), short, std=True)
        == b"mmhvae synthetic t1 std from t2; model r1 ffffffff"
    )


def test_the_model_is_named_by_its_run_or_by_its_own_file(tmp_path: Path) -> None:
    run_checkpoint = tmp_path / "r1" / "checkpoints" / "last.pt"
    loose = tmp_path / "models" / "brats-tiny.pt"
    for path in (run_checkpoint, loose):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"weights")
    assert ModelRecord.of(run_checkpoint, "mmhvae").name == "r1"
    assert ModelRecord.of(loose, "mmhvae").name == "brats-tiny.pt"
    assert b"model brats-tiny.pt " in descrip("t2", ["flair"], ModelRecord.of(loose, "mmhvae"))
