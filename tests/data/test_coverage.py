"""data/coverage.py: an image that is 0 on part of the brain the others show (a slab FLAIR,
images skull-stripped differently) is named, at loading and by ``info --check-voxels``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mmhvae.cli.main import main
from mmhvae.data.case import load_case
from mmhvae.data.coverage import COVERAGE_GAP, coverage_gaps, coverage_warnings
from mmhvae.data.layouts import discover_cases

from .volumes import write_nifti

SHAPE = (24, 20, 16)


def _brain(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"))
    inside = (grid**2).sum(axis=0) < 0.7**2
    return (inside * (0.5 + rng.random(SHAPE))).astype(np.float32)


def _slab(data: np.ndarray, keep: int) -> np.ndarray:
    """Only the first ``keep`` axial slices acquired (the rest 0)."""
    out = data.copy()
    out[..., keep:] = 0
    return out


def test_the_gap_is_the_share_of_the_others_brain_an_image_misses() -> None:
    t1 = _brain(0)
    flair = _slab(_brain(1), SHAPE[2] // 2)  # the lower half of a symmetric brain
    gaps = coverage_gaps({"t1": t1, "flair": flair})
    assert gaps["flair"] == pytest.approx(0.5)
    assert gaps["t1"] == 0.0  # t1 covers all of flair's brain
    both = t1 > 0
    assert gaps["flair"] == float((both & (flair <= 0)).sum()) / both.sum()


def test_one_image_or_a_non_zero_background_takes_no_part() -> None:
    t1 = _brain(0)
    assert coverage_gaps({"t1": t1}) == {}
    z_scored = (t1 - t1.mean()) / t1.std()  # its > 0 is not its brain
    assert coverage_gaps({"t1": z_scored, "flair": _slab(_brain(1), 4)}) == {}


def test_only_gaps_over_the_cut_off_are_named() -> None:
    t1 = _brain(0)
    n = SHAPE[2]
    keep_most = next(
        k for k in range(n, 0, -1) if coverage_gaps({"a": t1, "b": _slab(t1, k)})["b"] > 0
    )
    small = coverage_gaps({"t1": t1, "flair": _slab(t1, keep_most)})["flair"]
    assert 0 < small <= COVERAGE_GAP
    assert coverage_warnings("c", {"t1": t1, "flair": _slab(t1, keep_most)}, {}) == []
    (message,) = coverage_warnings("c", {"t1": t1, "flair": _slab(t1, n // 2)}, {"flair": "f.nii"})
    assert message.startswith("c: f.nii is 0 on 50% of the brain")


def _case(tmp_path: Path, flair: np.ndarray) -> Path:
    write_nifti(tmp_path / "Case001-t1.nii.gz", _brain(0))
    write_nifti(tmp_path / "Case001-flair.nii.gz", flair)
    return tmp_path


def test_loading_warns_naming_the_file_and_keeps_the_data(tmp_path: Path) -> None:
    flair = _slab(_brain(1), SHAPE[2] // 2)
    (files,) = discover_cases(_case(tmp_path, flair))
    case = load_case(files)
    path = tmp_path / "Case001-flair.nii.gz"
    assert any(f"{path} is 0 on 50%" in w for w in case.warnings)
    np.testing.assert_array_equal(case.images["flair"], flair)  # nothing changed


def test_info_check_voxels_lists_the_gap_as_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    _case(tmp_path, _slab(_brain(1), SHAPE[2] // 2))
    with caplog.at_level(logging.WARNING):
        assert main(["info", str(tmp_path), "--check-voxels"]) == 1
    out = capsys.readouterr().out
    assert "Case001-flair.nii.gz is 0 on 50% of the brain" in out and "1 problem(s)" in out
    write_nifti(tmp_path / "Case001-flair.nii.gz", _brain(1))
    assert main(["info", str(tmp_path), "--check-voxels"]) == 0
