"""Volumes whose background is not zero: found, and given a brain mask without holes; every
zero-background volume keeps its mask of voxels > 0 exactly."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mmhvae.cli.main import main
from mmhvae.data import background
from mmhvae.data.background import (
    background_problem,
    border_values,
    estimated_brain_mask,
    foreground,
    otsu_threshold,
)
from mmhvae.data.case import Case
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.data.preprocess import brain_mask

from .volumes import brain_volume, write_nifti

SHAPE = (40, 36, 32)


def sphere(shape=SHAPE, radius=0.7) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    return (grid**2).sum(axis=0) < radius**2


def scan(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A brain (sphere, tissue 0.5 to 1.5) with a dark ventricle (0.05) on a zero background,
    and the sphere itself (the true mask)."""
    rng = np.random.default_rng(seed)
    brain = sphere()
    data = brain * (0.5 + rng.random(SHAPE))
    data[sphere(radius=0.25)] = 0.05
    return data.astype(np.float32), brain


def zscore(data: np.ndarray) -> np.ndarray:
    """Over the whole field of view: the background becomes one negative value."""
    return ((data - data.mean()) / data.std()).astype(np.float32)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float(np.sum(a & b)) / float(a.sum() + b.sum())


def has_holes(mask: np.ndarray) -> bool:
    return bool(np.any(ndimage.binary_fill_holes(mask) & ~mask))


def test_z_scored_sphere_gets_its_mask_back_without_holes() -> None:
    data, truth = scan()
    scored = zscore(data)
    assert has_holes(scored > 0)  # what voxels > 0 would give: the ventricle dropped
    problem = background_problem(scored)
    assert problem is not None and "non-zero background" in problem
    assert f"{scored[0, 0, 0]:g}" in problem
    mask = estimated_brain_mask(scored)
    assert dice(mask, truth) > 0.99 and not has_holes(mask)


def test_constant_offset_background_is_found() -> None:
    data, truth = scan(seed=1)
    shifted = data + 100.0  # every voxel > 0
    assert background_problem(shifted) is not None
    assert dice(estimated_brain_mask(shifted), truth) > 0.99


def test_z_scored_brain_on_a_zero_background() -> None:
    data, truth = scan(seed=2)
    scored = np.where(truth, (data - data[truth].mean()) / data[truth].std(), 0).astype(np.float32)
    problem = background_problem(scored)
    assert problem is not None and "below zero" in problem
    mask = estimated_brain_mask(scored)
    assert dice(mask, truth) > 0.99 and not has_holes(mask)


def test_noisy_background_is_split_by_otsu() -> None:
    data, truth = scan(seed=3)
    rng = np.random.default_rng(3)
    noisy = (data + np.abs(rng.normal(0, 0.05, SHAPE))).astype(np.float32)  # Rician-like air
    problem = background_problem(noisy)
    assert problem is not None and "border voxels are not 0" in problem
    mask = estimated_brain_mask(noisy)
    assert dice(mask, truth) > 0.97 and not has_holes(mask)


def test_otsu_splits_two_levels_and_border_values_are_the_faces() -> None:
    values = np.r_[np.zeros(500), np.full(300, 10.0)]
    assert 0 < otsu_threshold(values) < 10
    cube = np.zeros((4, 5, 6))
    cube[1:-1, 1:-1, 1:-1] = 1
    assert border_values(cube).size == 2 * (5 * 6 + 4 * 6 + 4 * 5) and not border_values(cube).any()


@pytest.mark.parametrize("negatives", [0, 1])
def test_zero_background_keeps_voxels_above_zero_exactly(negatives: int) -> None:
    data, _ = scan(seed=4)
    data[sphere(radius=0.1)] = 0.0  # zero voxels inside the brain stay outside the mask
    if negatives:  # interpolation leaves a few small negative values (the real tcga case)
        data.flat[::997] = -0.3
    assert background_problem(data) is None
    np.testing.assert_array_equal(foreground(data, "x.nii.gz"), data > 0)


def test_real_zero_background_case_keeps_its_mask(tcga_case: Case) -> None:
    union = np.zeros(tcga_case.shape, bool)
    for image in tcga_case.images.values():
        union |= image > 0
    assert tcga_case.mask is None
    np.testing.assert_array_equal(brain_mask(tcga_case), union)


def test_brain_mask_warns_naming_the_file(caplog: pytest.LogCaptureFixture) -> None:
    data, truth = scan(seed=5)
    path = Path("/data/p1_t2.nii.gz")
    files = CaseFiles("p1", {"t2": path}, None, None, Layout.FLAT)
    case = Case("p1", {"t2": zscore(data)}, np.eye(4), nib.Nifti1Header(), SHAPE, None, None,
                files, "t2")  # fmt: skip
    background._WARNED.clear()  # other tests may have warned about this name already
    with caplog.at_level(logging.WARNING, logger="mmhvae.data.background"):
        mask = brain_mask(case)
        again = brain_mask(case)  # synthesis and scoring both ask: said once per file
    assert dice(mask, truth) > 0.99 and np.array_equal(mask, again)
    assert str(path) in caplog.text and "non-zero background" in caplog.text
    assert caplog.text.count(str(path)) == 1
    case.mask = truth  # a mask file wins: nothing estimated, nothing said
    caplog.clear()
    assert np.array_equal(brain_mask(case), truth) and not caplog.text


def test_info_check_voxels_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, truth = scan(seed=6)
    write_nifti(tmp_path / "Case001-t2.nii.gz", zscore(data))
    write_nifti(tmp_path / "Case001-flair.nii.gz", brain_volume(SHAPE))
    assert main(["info", str(tmp_path), "--check-voxels"]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'Case001-t2.nii.gz'} has a non-zero background" in out
    assert "Case001-flair" not in out.split("problem(s)")[1]
    assert "1 problem(s)" in out
    write_nifti(tmp_path / "Case001-mask.nii.gz", truth.astype(np.uint8))
    assert main(["info", str(tmp_path), "--check-voxels"]) == 0  # the mask file is the brain
