"""One case: which modalities go in and out, and the way back to the case's own grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mmhvae.config import load_config
from mmhvae.data.case import load_case
from mmhvae.data.layouts import discover_cases
from mmhvae.data.preprocess import normalised_volumes
from mmhvae.errors import DataError
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.synthesis.case import plan_synthesis, synthesize_case, synthesize_loaded_case

from .fakes import MeanOfPresent

MODALITIES = ("t1", "t1ce", "t2", "flair")


def test_plan_targets_the_absent_modalities_by_default() -> None:
    plan = plan_synthesis("c", MODALITIES, ["flair", "t1ce"])
    assert plan.inputs == ("t1ce", "flair") and plan.targets == ("t1", "t2")


def test_plan_asked_targets_and_leave_out() -> None:
    plan = plan_synthesis("c", MODALITIES, MODALITIES, targets=["T2w", "t1"], leave_out=["t2"])
    assert plan.inputs == ("t1", "t1ce", "flair")
    assert plan.targets == ("t2",)  # t1 is present and not left out: not its own target


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": ["pd"]}, "does not know"),
        ({"targets": ["banana"]}, "unknown modality"),
        ({"leave_out": ["us"]}, "does not know"),
    ],
)
def test_plan_refuses_modalities_the_model_does_not_know(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        plan_synthesis("c", MODALITIES, ["t1"], **kwargs)


def test_plan_refuses_a_case_without_any_input() -> None:
    with pytest.raises(DataError, match="case c: none of the model's modalities"):
        plan_synthesis("c", MODALITIES, [])
    with pytest.raises(DataError, match="left out: t1"):
        plan_synthesis("c", MODALITIES, ["t1"], leave_out=["t1"])


def _oblique_affine() -> np.ndarray:
    a, b = np.radians(17.0), np.radians(-9.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    affine = np.eye(4)
    # a flip on the first axis and an axis swap make the voxel order far from RAS
    affine[:3, :3] = (rz @ ry @ np.diag([-1.1, 0.9, 2.0]))[:, [1, 0, 2]]
    affine[:3, 3] = (12.0, -40.5, 3.25)
    return affine


@pytest.fixture
def oblique_case(tmp_path: Path) -> Path:
    """A CSV case of two modalities on a 40 x 36 x 9 oblique grid with an off-centre brain."""
    rng = np.random.default_rng(0)
    shape = (40, 36, 9)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    grid[0] -= 0.2
    brain = (grid**2).sum(axis=0) < 0.5
    rows = ["case,modality,path,kind"]
    for name in ("flair", "t1ce"):
        data = (brain * (10 + 50 * rng.random(shape))).astype(np.float32)
        image = nib.Nifti1Image(data, _oblique_affine())
        image.header.set_xyzt_units("mm", "sec")
        nib.save(image, tmp_path / f"{name}.nii.gz")
        rows.append(f"obl,{name},{name}.nii.gz,image")
    (tmp_path / "cases.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "cases.csv"


def test_oblique_case_comes_back_on_its_own_grid_exactly(oblique_case: Path) -> None:
    """spacing 0: the geometry is a crop and a permutation, so the way back is exact; the
    fake method returns the mean of the inputs, which must land on the voxels it came from."""
    config = load_config("tiny", ["model.image_size=48", "data.spacing=0"])
    (files,) = discover_cases(oblique_case)
    method = MeanOfPresent(MODALITIES)
    volumes = synthesize_case(
        method, files, MODALITIES, config, options=SamplingOptions(temperature=0.0)
    )
    assert set(volumes) == {"t1", "t2"}
    case = load_case(files, MODALITIES)
    truth, mask = normalised_volumes(case, MODALITIES)
    expected = (truth["flair"] + truth["t1ce"]) / 2
    for mean, std in volumes.values():
        assert std is None and mean.dtype == np.float32 and mean.shape == (40, 36, 9)
        np.testing.assert_allclose(mean, np.where(mask, expected, 0), atol=1e-6)


def test_progress_follows_every_brain_slice_of_the_case(oblique_case: Path) -> None:
    """synthesize's per-case bar: (done, total) after each slice batch, ending at total."""
    config = load_config("tiny", ["model.image_size=48", "data.spacing=0"])
    (files,) = discover_cases(oblique_case)
    case = load_case(files, MODALITIES)
    plan = plan_synthesis("obl", MODALITIES, list(files.images))
    calls: list[tuple[int, int]] = []
    synthesize_loaded_case(
        MeanOfPresent(MODALITIES),
        case,
        config,
        plan,
        SamplingOptions(temperature=0.0, batch_size=2),
        lambda done, total: calls.append((done, total)),
    )
    brain = normalised_volumes(case, MODALITIES)[1]
    slices = int(brain.any(axis=(0, 1)).sum())  # axial slices holding brain
    assert slices > 2 and calls[-1] == (slices, slices)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})  # strictly increasing
    assert len(calls) == -(-slices // 2)  # one call per batch of 2 slices
