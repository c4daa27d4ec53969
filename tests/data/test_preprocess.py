import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmhvae.data.case import Case
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.data.nifti import load_volume, save_volume
from mmhvae.data.preprocess import (
    brain_mask,
    normalise,
    normalised_volumes,
    prepare_case,
    to_original_grid,
)
from mmhvae.errors import DataError

from .volumes import brain_volume, oblique_affine


def _make_case(images, affine, seg=None, mask=None):
    shape = next(iter(images.values())).shape
    files = CaseFiles("synthetic", {}, None, None, Layout.CSV)
    return Case("synthetic", images, affine, nib.Nifti1Header(), shape, seg, mask, files, "t1")


def test_normalise_closed_form():
    volume = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    mask = np.ones(volume.shape, bool)
    mask[0, 0, :5] = False  # values 0..4 leave the mask
    out = normalise(volume, mask)
    inside = volume[mask]
    lo = inside.min() + 0.005 * (inside.size - 1)  # linear percentile of consecutive integers
    hi = inside.min() + 0.995 * (inside.size - 1)
    expected = np.clip((volume - lo) / (hi - lo), 0, 1) * mask
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32 and out[mask].min() == 0 and out.max() == 1
    assert not out[~mask].any()
    constant = normalise(np.full((4, 4, 4), 7.0), np.ones((4, 4, 4), bool))
    assert np.isfinite(constant).all() and not constant.any()
    assert not normalise(volume, np.zeros(volume.shape, bool)).any()


def test_brain_mask_is_union_or_provided():
    a, b = np.zeros((4, 4, 4), np.float32), np.zeros((4, 4, 4), np.float32)
    a[0, 0, 0], b[1, 1, 1], b[2, 2, 2] = 1.0, 2.0, -3.0
    case = _make_case({"t1": a, "t2": b}, np.eye(4))
    assert brain_mask(case).sum() == 2
    provided = np.ones((4, 4, 4), bool)
    case.mask = provided
    assert brain_mask(case).all()


def _signed_permutation(perm, signs):
    matrix = np.zeros((3, 3))
    for row, (col, sign) in enumerate(zip(perm, signs, strict=True)):
        matrix[row, col] = sign
    return matrix


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(*[st.integers(5, 14)] * 3),
    perm=st.permutations([0, 1, 2]),
    signs=st.tuples(*[st.sampled_from([-1, 1])] * 3),
    angle=st.floats(-20, 20),
    image_size=st.integers(4, 20),
    seed=st.integers(0, 1000),
)
def test_exact_inverse_for_any_orientation(shape, perm, signs, angle, image_size, seed):
    """LPS, LAS, PSR, ... with oblique rotations: crop/pad and reorientation are undone."""
    affine = oblique_affine(angle)
    affine[:3, :3] = affine[:3, :3] @ _signed_permutation(perm, signs)
    image = brain_volume(shape, seed)
    labels = (np.arange(np.prod(shape)).reshape(shape) + 1).astype(np.int16)  # all distinct
    case = _make_case({"t1": image}, affine, seg=labels)
    prepared = prepare_case(case, ["t1", "t2"], image_size)
    # slices run along the voxel axis closest to world S
    s_axis = int(np.argmax(np.abs(affine[2, :3]) / np.linalg.norm(affine[:3, :3], axis=0)))
    assert prepared.images.shape == (2, shape[s_axis], image_size, image_size)
    assert prepared.present.tolist() == [True, False] and not prepared.images[1].any()
    region = to_original_grid(prepared.grid, np.ones_like(prepared.seg)) > 0
    back_labels = to_original_grid(prepared.grid, prepared.seg, order=0)
    assert back_labels.shape == shape
    np.testing.assert_array_equal(back_labels, labels * region)
    back = to_original_grid(prepared.grid, prepared.images[0])
    expected = normalise(image, image > 0) * region
    np.testing.assert_array_equal(back, expected)
    # the crop window is centred on the brain: a window as large as the plane keeps it all
    if image_size >= max(shape):
        assert region.all()


def test_inplane_resampling_changes_pixel_size_and_inverts_approximately():
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    image = brain_volume((40, 40, 6), seed=1)
    smooth = np.where(image > 0, 1.0 + np.linspace(0, 1, 40)[:, None, None], 0.0).astype(np.float32)
    case = _make_case({"t1": smooth}, affine)
    prepared = prepare_case(case, ["t1"], 48, spacing=1.8)
    assert prepared.grid.inplane_shape == (20, 20)
    back = to_original_grid(prepared.grid, prepared.images[0])
    expected = normalise(smooth, smooth > 0)
    inner = np.zeros_like(image, bool)
    inner[8:-8, 8:-8] = True  # away from the brain's edge, where linear resampling is exact-ish
    inner &= image > 0
    assert back.shape == image.shape
    assert np.abs(back - expected)[inner].mean() < 0.05


@pytest.mark.parametrize("out_hw", [(240, 240), (20, 31), (97, 60), (7, 7)])
def test_linear_inplane_resize_is_scipy_affine_transform(out_hw):
    """The torch bilinear path of _resize_inplane gives scipy.ndimage.affine_transform's
    numbers (order 1, mode "nearest", pixel centres aligned) to a float32 ulp, up- and
    down-sampling, all-zero slices included, edges clamped."""
    from scipy import ndimage

    from mmhvae.data.preprocess import _resize_inplane

    rng = np.random.default_rng(0)
    volume = rng.random((5, 48, 40)).astype(np.float32)
    volume[1] = 0.0  # skipped as all zero: must stay zero
    volume[3, :, :5] = 1.0  # a hard edge at the border
    scale = np.array([1.0, 48 / out_hw[0], 40 / out_hw[1]])
    offset = 0.5 * scale - 0.5
    offset[0] = 0.0
    expected = ndimage.affine_transform(
        volume.astype(np.float64), scale, offset=offset, output_shape=(5, *out_hw), order=1,
        mode="nearest",
    )  # fmt: skip
    got = _resize_inplane(volume, out_hw, order=1)
    assert got.dtype == np.float32 and got.shape == (5, *out_hw)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1.2e-7)
    assert not got[1].any()


def test_empty_brain_and_bad_volume_shape():
    case = _make_case({"t1": np.zeros((4, 4, 4), np.float32)}, np.eye(4))
    with pytest.raises(DataError, match="empty brain mask"):
        prepare_case(case, ["t1"], 8)
    ok = prepare_case(_make_case({"t1": brain_volume()}, np.eye(4)), ["t1"], 8)
    with pytest.raises(DataError, match="expected"):
        to_original_grid(ok.grid, np.zeros((3, 9, 9)))


def test_real_case_round_trip(tcga_case, tmp_path):
    modalities = ["t1", "t1ce", "t2", "flair"]
    prepared = prepare_case(tcga_case, modalities, 192)
    assert prepared.images.shape == (4, 155, 192, 192)
    assert prepared.images.min() >= 0 and prepared.images.max() <= 1
    assert prepared.present.all() and prepared.seg is not None
    expected, mask = normalised_volumes(tcga_case, modalities)
    for index, name in enumerate(modalities):
        back = to_original_grid(prepared.grid, prepared.images[index])
        assert back.shape == (240, 240, 155)
        np.testing.assert_array_equal(back[mask], expected[name][mask])
        assert not back[~mask].any()
    np.testing.assert_array_equal(to_original_grid(prepared.grid, prepared.seg, 0), tcga_case.seg)
    # saved with the grid's affine and header, it matches the input file's geometry
    out = save_volume(
        tmp_path / "t2.nii",
        to_original_grid(prepared.grid, prepared.images[2]),
        prepared.grid.affine,
        prepared.grid.header,
    )
    saved = load_volume(out)
    original = nib.load(tcga_case.files.images[tcga_case.reference])  # the header kept
    np.testing.assert_allclose(saved.affine, original.affine, atol=1e-6)
    assert saved.header.get_zooms() == original.header.get_zooms()
    assert saved.header["qform_code"] == original.header["qform_code"]
    np.testing.assert_array_equal(saved.data, expected["t2"])
