from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from mmhvae.evaluation import metrics
from mmhvae.evaluation.metrics import (
    inplane_bbox,
    mae,
    normalise_to_unit,
    psnr,
    region_metrics,
    selected_slices,
    ssim_slices,
    volume_metrics,
)


def skimage_ssim(a: np.ndarray, b: np.ndarray, full: bool = False):  # type: ignore[no-untyped-def]
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
        full=full,
    )  # fmt: skip


@pytest.fixture
def random_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 60 x 50 x 24 volume, a noisy copy and an uneven blob mask (x, y, z; axial last)."""
    rng = np.random.default_rng(7)
    gt = rng.random((60, 50, 24))
    pred = np.clip(gt + 0.2 * rng.standard_normal(gt.shape), 0, 1)
    x, y, z = np.meshgrid(np.arange(60), np.arange(50), np.arange(24), indexing="ij")
    mask = ((x - 28) / 22) ** 2 + ((y - 26) / 18) ** 2 + ((z - 12) / 10) ** 2 < 1
    return pred, gt, mask


def test_psnr_and_mae_match_numpy(random_case) -> None:  # type: ignore[no-untyped-def]
    pred, gt, mask = random_case
    diff = (pred - gt)[mask]
    assert psnr(pred, gt, mask) == pytest.approx(10 * np.log10(1 / np.mean(diff**2)), rel=1e-12)
    assert mae(pred, gt, mask) == pytest.approx(np.mean(np.abs(diff)), rel=1e-12)
    # voxels outside the mask do not count
    far = pred.copy()
    far[~mask] = 1 - gt[~mask]
    assert psnr(far, gt, mask) == psnr(pred, gt, mask)


def test_psnr_closed_form_and_identity(random_case) -> None:  # type: ignore[no-untyped-def]
    _, gt, mask = random_case
    assert psnr(gt + 0.1, gt, mask) == pytest.approx(20.0)  # MSE 0.01
    assert mae(gt + 0.1, gt, mask) == pytest.approx(0.1)
    assert psnr(gt, gt, mask) == float("inf")  # documented: no cap
    assert np.isnan(psnr(gt, gt, np.zeros_like(mask)))


def test_ssim_matches_skimage_per_cropped_slice(random_case) -> None:  # type: ignore[no-untyped-def]
    pred, gt, mask = random_case
    result = ssim_slices(pred, gt, mask)
    rows, cols = inplane_bbox(mask)
    assert result.slices.size > 0
    for k, value, ssim_map in zip(result.slices, result.per_slice, result.maps, strict=True):
        ref, ref_map = skimage_ssim(pred[rows, cols, k], gt[rows, cols, k], full=True)
        assert value == pytest.approx(ref, abs=1e-6)
        np.testing.assert_allclose(ssim_map, ref_map, atol=1e-6)
    assert result.mean == pytest.approx(np.mean(result.per_slice))


def test_ssim_on_a_real_volume(real_case) -> None:  # type: ignore[no-untyped-def]
    gt, mask = real_case["flair"], real_case["mask"]
    pred = np.where(mask, np.clip(0.8 * real_case["t2"] + 0.1, 0, 1), 0)
    result = ssim_slices(pred, gt, mask)
    assert 30 <= result.slices.size <= 80  # EVALUATION.md: a typical brain gives 45-55
    rows, cols = result.crop
    picked = result.slices[:: max(1, result.slices.size // 8)]
    for k in picked:
        i = int(np.flatnonzero(result.slices == k)[0])
        ref = skimage_ssim(pred[rows, cols, k], gt[rows, cols, k])
        assert result.per_slice[i] == pytest.approx(ref, abs=1e-6)
    assert 0 < result.mean < 1


def test_slice_selection_and_bbox() -> None:
    mask = np.zeros((20, 30, 10), bool)
    mask[5:15, 8:20, 2:8] = True
    mask[5:6, 8:9, 1] = True  # 1 voxel of 721: below 1%
    assert selected_slices(mask).tolist() == [2, 3, 4, 5, 6, 7]
    assert inplane_bbox(mask) == (slice(5, 15), slice(8, 20))
    # another axis: the same volume with z moved first
    moved = np.moveaxis(mask, -1, 0)
    assert selected_slices(moved, axis=0).tolist() == [2, 3, 4, 5, 6, 7]
    assert inplane_bbox(moved, axis=0) == (slice(5, 15), slice(8, 20))


def test_axis_argument_gives_the_same_numbers(random_case) -> None:  # type: ignore[no-untyped-def]
    pred, gt, mask = random_case
    moved = [np.moveaxis(v, -1, 0) for v in (pred, gt, mask)]
    assert ssim_slices(*moved, axis=0).mean == pytest.approx(ssim_slices(pred, gt, mask).mean)


def test_identical_images(random_case) -> None:  # type: ignore[no-untyped-def]
    _, gt, mask = random_case
    tumour = np.zeros(gt.shape, np.uint8)
    tumour[20:30, 20:30, 8:16] = 2
    out = volume_metrics(gt, gt, mask, tumour)
    assert out["ssim"] == pytest.approx(1.0)
    assert out["ssim_tumour"] == pytest.approx(1.0) and out["ssim_healthy"] == pytest.approx(1.0)
    assert out["psnr"] == out["psnr_tumour"] == out["psnr_healthy"] == float("inf")
    assert out["mae"] == 0.0


def test_region_metrics(random_case) -> None:  # type: ignore[no-untyped-def]
    pred, gt, mask = random_case
    tumour = np.zeros(gt.shape, np.int16)
    tumour[20:30, 20:30, 8:16] = 4
    tumour[0:3, 0:3, :] = 1  # outside the mask: ignored
    result = ssim_slices(pred, gt, mask)
    out = region_metrics(pred, gt, mask, tumour, ssim=result)
    tum = mask & (tumour > 0)
    healthy = mask & ~tum
    assert out["psnr_tumour"] == pytest.approx(psnr(pred, gt, tum))
    assert out["psnr_healthy"] == pytest.approx(psnr(pred, gt, healthy))
    # region SSIM pools the map's values over the region's voxels of the selected slices
    rows, cols = result.crop
    values = [result.maps[i][tum[rows, cols, k]] for i, k in enumerate(result.slices)]
    assert out["ssim_tumour"] == pytest.approx(np.concatenate(values).mean())
    assert out == region_metrics(pred, gt, mask, tumour)  # same without the cached result
    # a perfect tumour only raises the tumour scores
    fixed = np.where(tum, gt, pred)
    better = region_metrics(fixed, gt, mask, tumour)
    assert better["psnr_tumour"] == float("inf") and better["ssim_tumour"] > out["ssim_tumour"]
    assert better["psnr_healthy"] == pytest.approx(out["psnr_healthy"])
    empty = region_metrics(pred, gt, mask, np.zeros_like(tumour))
    assert np.isnan(empty["psnr_tumour"]) and np.isnan(empty["ssim_tumour"])


def test_normalise_to_unit() -> None:
    x = np.array([[[-1.5, -1.0, 0.0, 0.5, 1.0, 2.0]]])
    np.testing.assert_allclose(normalise_to_unit(x), [[[0, 0, 0.5, 0.75, 1, 1]]])
    mask = np.array([[[True, True, True, False, True, True]]])
    np.testing.assert_allclose(normalise_to_unit(x, mask), [[[0, 0, 0.5, 0, 1, 1]]])


def test_bad_inputs(random_case) -> None:  # type: ignore[no-untyped-def]
    pred, gt, mask = random_case
    with pytest.raises(ValueError, match="one shape"):
        psnr(pred[:-1], gt, mask)
    with pytest.raises(ValueError, match="boolean"):
        ssim_slices(pred, gt, mask.astype(np.uint8))
    with pytest.raises(ValueError, match="empty"):
        ssim_slices(pred, gt, np.zeros_like(mask))
    tiny = np.zeros_like(mask)
    tiny[10:15, 10:30, 5:9] = True
    with pytest.raises(ValueError, match="window"):
        ssim_slices(pred, gt, tiny)
    with pytest.raises(ValueError, match="tumour"):
        region_metrics(pred, gt, mask, np.zeros((3, 3, 3)))


def test_window_is_11_pixels() -> None:
    assert metrics.WIN_SIZE == 11
