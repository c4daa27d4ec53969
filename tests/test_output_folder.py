"""output_folder: what --overwrite may delete (exact patterns, the marker, no link followed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmhvae import output_folder
from mmhvae.errors import OutputExistsError

PATTERNS = ("checkpoints/*.pt", "losses.csv")


def test_patterns_match_one_component_per_piece() -> None:
    assert output_folder.matches("checkpoints/last.pt", PATTERNS)
    assert not output_folder.matches("checkpoints/mine/last.pt", PATTERNS)
    assert not output_folder.matches("losses.csv.bak", PATTERNS)
    assert not output_folder.matches("sub/losses.csv", PATTERNS)


def test_remove_own_files_keeps_the_rest_and_does_not_follow_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.pt").write_text("not ours")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_text("ours")
    (run / "losses.csv").write_text("ours")
    (run / "notes.txt").write_text("theirs")
    os.symlink(outside, run / "checkpoints" / "linked")
    removed = output_folder.remove_own_files(run, PATTERNS)
    assert sorted(p.name for p in removed) == ["last.pt", "losses.csv"]
    assert (run / "notes.txt").read_text() == "theirs"
    assert (outside / "x.pt").read_text() == "not ours"
    assert (run / "checkpoints" / "linked").is_symlink()


def test_claim_needs_overwrite_and_the_marker_for_foreign_files(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    output_folder.claim(folder, "test", PATTERNS, overwrite=False)
    assert output_folder.is_marked(folder)
    (folder / "losses.csv").write_text("ours")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        output_folder.claim(folder, "test", PATTERNS, overwrite=False)
    (folder / "mine.txt").write_text("theirs")
    output_folder.claim(folder, "test", PATTERNS, overwrite=True)
    assert not (folder / "losses.csv").exists()
    assert (folder / "mine.txt").read_text() == "theirs"
    (folder / output_folder.MARKER).unlink()
    with pytest.raises(OutputExistsError, match="mine.txt"):
        output_folder.claim(folder, "test", PATTERNS, overwrite=True)


def test_adopt_marks_a_new_folder_keeps_a_marked_one_and_refuses_any_other(tmp_path: Path) -> None:
    new = tmp_path / "new"
    output_folder.adopt(new, "predict")
    assert output_folder.is_marked(new)
    (new / "case-t2w.nii.gz").write_text("ours, from an earlier run")
    output_folder.adopt(new, "predict")  # marked: kept as it is
    assert (new / "case-t2w.nii.gz").read_text() == "ours, from an earlier run"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "scan.nii.gz").write_text("the user's")
    with pytest.raises(OutputExistsError, match=r"no \.mmhvae-output marker.*scan\.nii\.gz"):
        output_folder.check_adoptable(theirs, "predict")
    with pytest.raises(OutputExistsError, match="no .mmhvae-output marker"):
        output_folder.adopt(theirs, "predict")
    assert not output_folder.is_marked(theirs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        output_folder.adopt(tmp_path / "file", "predict")
