import numpy as np
import pytest

from mmhvae.data.case import choose_reference, load_case
from mmhvae.data.grid import resample_to_grid, same_grid
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.errors import DataError

from .volumes import brain_volume, oblique_affine, write_nifti


def _case(tmp_path, volumes, seg=None, mask=None):
    images = {
        name: write_nifti(tmp_path / f"c_{name}.nii.gz", data, affine)
        for name, (data, affine) in volumes.items()
    }
    seg_path = None if seg is None else write_nifti(tmp_path / "c_seg.nii.gz", *seg)
    mask_path = None if mask is None else write_nifti(tmp_path / "c_mask.nii.gz", *mask)
    return CaseFiles("c", images, seg_path, mask_path, Layout.CSV)


def test_one_grid_loads_as_is(tmp_path):
    affine = oblique_affine()
    t1, t2 = brain_volume(seed=1), brain_volume(seed=2)
    seg = (t1 > 1.5).astype(np.uint8)
    case = load_case(_case(tmp_path, {"t1": (t1, affine), "t2": (t2, affine)}, seg=(seg, affine)))
    assert case.reference == "t1"
    np.testing.assert_array_equal(case.images["t2"], t2)
    np.testing.assert_array_equal(case.seg, seg)
    np.testing.assert_allclose(case.affine, affine, atol=1e-6)
    assert case.warnings == []
    assert case.present(["t1", "t1ce", "t2w"]).tolist() == [True, False, True]


def test_all_zero_volume_is_absent_with_warning(tmp_path):
    affine = oblique_affine()
    files = _case(
        tmp_path, {"t1": (brain_volume(), affine), "flair": (np.zeros((12, 10, 8)), affine)}
    )
    case = load_case(files)
    assert set(case.images) == {"t1"}
    assert case.present(["t1", "flair"]).tolist() == [True, False]
    assert len(case.warnings) == 1 and "c_flair.nii.gz is all zero" in case.warnings[0]
    only_zero = _case(tmp_path / "z", {"t2": (np.zeros((4, 4, 4)), affine)})
    with pytest.raises(DataError, match="case c: no usable image"):
        load_case(only_zero)


def test_mismatched_grids_resampled_or_refused(tmp_path):
    affine = oblique_affine()
    shifted = affine.copy()
    shifted[:3, 3] += affine[:3, :3] @ np.array([1.0, 0.0, 0.0])  # one voxel along i
    t1ce = brain_volume(seed=3)
    t2 = brain_volume(seed=4)
    files = _case(
        tmp_path,
        {"t1ce": (t1ce, affine), "t2": (t2, shifted)},
        mask=((t1ce > 0).astype(np.uint8), shifted),
    )
    with pytest.raises(DataError, match=r"different grids .*c_t2.nii.gz.*resampling is off"):
        load_case(files, resample=False)
    case = load_case(files)
    assert case.reference == "t1ce"
    assert "resampled onto the t1ce grid" in case.warnings[0]
    # t2's voxel i sits at reference voxel i + 1: an exact integer shift
    np.testing.assert_allclose(case.images["t2"][1:], t2[:-1], atol=1e-5)
    np.testing.assert_array_equal(case.images["t2"][0], 0)
    np.testing.assert_array_equal(case.mask[1:], t1ce[:-1] > 0)
    assert case.mask.dtype == bool
    other = load_case(files, reference="t2")
    np.testing.assert_array_equal(other.images["t2"], t2)


def test_grid_tolerance_and_resampling_reference():
    affine = oblique_affine()
    near = affine.copy()
    near[0, 3] += 5e-4
    assert same_grid((2, 3, 4), affine, (2, 3, 4), near)
    near[0, 0] += 1e-3
    assert not same_grid((2, 3, 4), affine, (2, 3, 4), near)
    assert not same_grid((2, 3, 4), affine, (2, 4, 3), affine)
    data = brain_volume()
    np.testing.assert_allclose(
        resample_to_grid(data, affine, data.shape, affine, 1), data, atol=1e-6
    )
    assert choose_reference(["t2", "flair"]) == "t2"
    assert choose_reference(["us", "t1"]) == "t1"
    with pytest.raises(DataError, match="not present"):
        choose_reference(["t1"], "t2")


def test_real_native_case_is_resampled_with_warning(tcga_files):
    files = tcga_files["tcga-fg-6692-native"]
    with pytest.raises(DataError, match="tcga-fg-6692-native: volumes on different grids"):
        load_case(files, resample=False)
    case = load_case(files)
    assert case.shape == (256, 224, 26)
    assert set(case.images) == {"t1", "t1ce", "t2", "flair"}
    assert all(v.shape == case.shape for v in case.images.values())
    assert "t2 224x256x26" in case.warnings[0] and "flair 208x256x26" in case.warnings[0]
    assert case.mask is not None and case.mask.any()
