"""Image-quality metrics of EVALUATION.md on NumPy volumes (data range 1).

Every function takes 3D volumes ``pred`` and ``gt`` with values in [0, 1] and a boolean brain
``mask`` of the same shape. The axial axis is the last one unless ``axis`` says otherwise: the
evaluator passes volumes in RAS voxel order (x, y, z), so an axial slice is ``vol[:, :, k]``.
Everything is computed in float64.

SSIM follows scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`` exactly, vectorised over slices: Gaussian
weights sigma 1.5 truncated at 3.5 sigma (radius 5, an 11 x 11 window), ``mode="reflect"``
borders, population (co)variances, and the map's mean taken after cropping a border of
(11 - 1) // 2 = 5 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter

SIGMA = 1.5
TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5: the 11 x 11 window of Wang et al. 2004
WIN_SIZE = 2 * int(TRUNCATE * SIGMA + 0.5) + 1
K1, K2 = 0.01, 0.03

Float = NDArray[np.float64]


def normalise_to_unit(x: ArrayLike, mask: ArrayLike | None = None) -> Float:
    """Map a model output from [-1, 1] to [0, 1]: clip((x + 1) / 2, 0, 1), 0 outside ``mask``."""
    out = np.clip((np.asarray(x, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)
    if mask is not None:
        out = np.where(np.asarray(mask, dtype=bool), out, 0.0)
    return out


def mse(pred: ArrayLike, gt: ArrayLike, region: ArrayLike) -> float:
    """Mean squared error over the voxels of ``region``: mean((pred - gt)[region] ** 2)."""
    p, g, r = _check(pred, gt, region, allow_empty=True)
    if not r.any():
        return float("nan")
    return float(np.mean((p[r] - g[r]) ** 2))


def psnr(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike) -> float:
    """PSNR = 10 log10(1 / MSE) with MSE over the mask's voxels of the whole volume (3D).

    Identical images (MSE 0) give ``inf`` (no cap): averages then show inf, which is honest.
    An empty mask gives nan.
    """
    err = mse(pred, gt, mask)
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(1.0 / err))


def mae(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike) -> float:
    """Mean absolute error over the mask: mean(|pred - gt|[mask]); nan for an empty mask."""
    p, g, m = _check(pred, gt, mask, allow_empty=True)
    if not m.any():
        return float("nan")
    return float(np.mean(np.abs(p[m] - g[m])))


def selected_slices(
    mask: ArrayLike, axis: int = -1, min_fraction: float = 0.01
) -> NDArray[np.intp]:
    """Indices k along ``axis`` whose slice holds >= min_fraction of the mask's voxels."""
    m = np.moveaxis(np.asarray(mask, dtype=bool), axis, 0)  # (S, X, Y)
    counts = m.reshape(m.shape[0], -1).sum(axis=1)
    return np.flatnonzero(counts >= min_fraction * counts.sum())


def inplane_bbox(mask: ArrayLike, axis: int = -1) -> tuple[slice, slice]:
    """In-plane bounding box of the whole 3D mask: (rows, cols) of the slices ``vol[..., k]``."""
    m = np.moveaxis(np.asarray(mask, dtype=bool), axis, 0)  # (S, X, Y)
    rows = np.flatnonzero(m.any(axis=(0, 2)))
    cols = np.flatnonzero(m.any(axis=(0, 1)))
    if rows.size == 0:
        raise ValueError("the brain mask is empty")
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _smooth(v: Float) -> Float:
    """The SSIM window over (N, H, W) stacks: Gaussian along H and W only (sigma 0 on N),
    ``mode="reflect"`` borders, as scikit-image."""
    return gaussian_filter(v, sigma=(0.0, SIGMA, SIGMA), mode="reflect", truncate=TRUNCATE)


def ssim_maps(a: ArrayLike, b: ArrayLike) -> Float:
    """2D SSIM maps of a stack of images a, b (N, H, W) in [0, 1], data range 1.

    With Gaussian-weighted means mu, variances s^2 and covariance s_ab (population form,
    E[ab] - mu_a mu_b), C1 = (K1 L)^2, C2 = (K2 L)^2, L = 1:
        SSIM = (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))
    Filtering is along H and W only (sigma 0 on N), ``mode="reflect"`` as scikit-image.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 3:
        raise ValueError(f"expected two (N, H, W) stacks of one shape, got {x.shape}, {y.shape}")

    ux, uy = _smooth(x), _smooth(y)
    vx = _smooth(x * x) - ux * ux
    vy = _smooth(y * y) - uy * uy
    vxy = _smooth(x * y) - ux * uy
    return _ssim_of_moments(ux, uy, vx, vy, vxy)


def _ssim_of_moments(ux: Float, uy: Float, vx: Float, vy: Float, vxy: Float) -> Float:
    """SSIM from the local means, variances and covariance (the formula of :func:`ssim_maps`)."""
    c1, c2 = K1**2, K2**2
    num = (2 * ux * uy + c1) * (2 * vxy + c2)
    den = (ux**2 + uy**2 + c1) * (vx + vy + c2)
    return num / den


def mean_ssim(maps: Float) -> Float:
    """Per-image SSIM (N,) of maps (N, H, W): the mean after cropping a 5-pixel border."""
    pad = (WIN_SIZE - 1) // 2
    return maps[:, pad:-pad, pad:-pad].mean(axis=(1, 2))


@dataclass(frozen=True)
class SSIMResult:
    """SSIM of a volume over its selected axial slices.

    mean:      the protocol's SSIM, mean of ``per_slice``
    per_slice: (N,) scikit-image SSIM of each cropped slice
    slices:    (N,) the slice indices along ``axis`` (>= min_fraction of the mask's voxels)
    crop:      (rows, cols) in-plane crop, the bounding box of the whole 3D mask
    maps:      (N, h, w) full SSIM maps of the cropped slices, border pixels included
    axis:      the axial axis of the volumes
    """

    mean: float
    per_slice: Float
    slices: NDArray[np.intp]
    crop: tuple[slice, slice]
    maps: Float
    axis: int

    def region_mean(self, region: ArrayLike) -> float:
        """Mean of the SSIM map over the voxels of ``region`` (3D bool) in the selected slices.

        Voxels are pooled over slices (not a mean of slice means). Unlike the global mean, no
        border is dropped: the crop is the mask's bounding box, so its border holds real
        brain voxels, scored by the reflect-padded map as scikit-image's ``full=True`` map.
        Region voxels outside the crop cannot exist for a region inside the mask.
        nan when the region has no voxel in those slices.
        """
        r = _slab(np.asarray(region, dtype=bool), self.slices, self.crop, self.axis)
        if not r.any():
            return float("nan")
        return float(self.maps[r].mean())


def ssim_slices(
    pred: ArrayLike,
    gt: ArrayLike,
    mask: ArrayLike,
    min_fraction: float = 0.01,
    axis: int = -1,
) -> SSIMResult:
    """Protocol SSIM: 2D SSIM of each axial slice holding >= min_fraction of the mask's voxels,
    on the slice cropped in-plane to the mask's 3D bounding box, averaged over those slices.

    Equals the mean over slices k of skimage.metrics.structural_similarity(pred_k, gt_k,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1).
    """
    p, g, m = _check(pred, gt, mask)
    crop = inplane_bbox(m, axis)
    if min(s.stop - s.start for s in crop) < WIN_SIZE:
        raise ValueError(
            f"the mask's bounding box {crop} is smaller than the {WIN_SIZE}-pixel window"
        )
    slices = selected_slices(m, axis, min_fraction)
    maps = ssim_maps(_slab(p, slices, crop, axis), _slab(g, slices, crop, axis))  # (N, h, w)
    per_slice = mean_ssim(maps)
    # No slice qualifies only for a mask spread evenly over more than 1 / min_fraction slices.
    mean = float(per_slice.mean()) if per_slice.size else float("nan")
    return SSIMResult(mean, per_slice, slices, crop, maps, axis)


def region_metrics(
    pred: ArrayLike,
    gt: ArrayLike,
    mask: ArrayLike,
    tumour: ArrayLike,
    ssim: SSIMResult | None = None,
    axis: int = -1,
) -> dict[str, float]:
    """PSNR and SSIM over the tumour (label > 0 inside the mask) and healthy brain (mask minus
    tumour): keys psnr_tumour, psnr_healthy, ssim_tumour, ssim_healthy.

    PSNR is over the region's voxels of the whole volume; SSIM is the region mean of the SSIM
    maps of the selected slices (:meth:`SSIMResult.region_mean`). ``ssim`` reuses a result of
    :func:`ssim_slices` on the same volumes. An empty region gives nan.
    """
    p, g, m = _check(pred, gt, mask)
    labels = np.asarray(tumour)
    if labels.shape != m.shape:
        raise ValueError(f"tumour labels of shape {labels.shape} for volumes of shape {m.shape}")
    tum = m & (labels > 0)
    healthy = m & ~tum
    result = ssim if ssim is not None else ssim_slices(p, g, m, axis=axis)
    out: dict[str, float] = {}
    for name, region in (("tumour", tum), ("healthy", healthy)):
        out[f"psnr_{name}"] = psnr(p, g, region)
        out[f"ssim_{name}"] = result.region_mean(region)
    return out


def volume_metrics(
    pred: ArrayLike,
    gt: ArrayLike,
    mask: ArrayLike,
    tumour: ArrayLike | None = None,
    axis: int = -1,
) -> dict[str, float]:
    """Every protocol metric but LPIPS: psnr, mae, ssim (+ the region keys when ``tumour``)."""
    p, g, m = _check(pred, gt, mask)
    ssim = ssim_slices(p, g, m, axis=axis)
    out = {"psnr": psnr(p, g, m), "mae": mae(p, g, m), "ssim": ssim.mean}
    if tumour is not None:
        out.update(region_metrics(p, g, m, tumour, ssim=ssim, axis=axis))
    return out


def _slab(
    vol: NDArray, slices: Sequence[int] | NDArray[np.intp], crop: tuple[slice, slice], axis: int
) -> NDArray:
    """The selected axial slices of ``vol``, cropped in-plane: (N, h, w)."""
    stack = np.moveaxis(vol, axis, 0)  # (S, X, Y), axial first
    return stack[np.asarray(slices, dtype=np.intp)][:, crop[0], crop[1]]


def _check(
    pred: ArrayLike, gt: ArrayLike, mask: ArrayLike, allow_empty: bool = False
) -> tuple[Float, Float, NDArray[np.bool_]]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    m = np.asarray(mask)
    if p.ndim != 3 or p.shape != g.shape or p.shape != m.shape:
        raise ValueError(
            f"expected 3D pred, gt and mask of one shape, got {p.shape}, {g.shape}, {m.shape}"
        )
    if m.dtype != np.bool_:
        raise ValueError(f"the mask must be boolean, got {m.dtype}")
    if not allow_empty and not m.any():
        raise ValueError("the brain mask is empty")
    return p, g, m


@dataclass(frozen=True)
class Reference:
    """The ground truth of one target, prepared once for scoring many predictions of it.

    :meth:`score` gives the numbers of :func:`volume_metrics` (the same float64 operations
    on the same voxels, in the same order), but every part that depends on the truth alone
    is computed here once: the voxels inside the mask and each region, the selected slices
    and crop, and the truth's Gaussian-weighted mean and variance for SSIM. The evaluator
    scores up to 7 predictions of each target per case (and the copy reference's).
    """

    shape: tuple[int, ...]
    mask: NDArray[np.bool_]
    truth_in_mask: Float  # (V,) gt[mask]
    regions: dict[str, NDArray[np.bool_]]  # name -> (V,) which mask voxels belong to it
    slices: NDArray[np.intp]
    crop: tuple[slice, slice]
    axis: int
    truth_slab: Float  # (N, h, w)
    truth_mean: Float  # (N, h, w) smoothed gt
    truth_var: Float  # (N, h, w) smoothed gt^2 - mean^2
    region_slabs: dict[str, NDArray[np.bool_]]  # name -> (N, h, w)

    @classmethod
    def of(
        cls,
        gt: ArrayLike,
        mask: ArrayLike,
        tumour: ArrayLike | None = None,
        min_fraction: float = 0.01,
        axis: int = -1,
    ) -> Reference:
        """gt in [0, 1], boolean mask, optional tumour labels (> 0 = tumour), all (X, Y, Z)."""
        g, _, m = _check(gt, gt, mask)
        crop = inplane_bbox(m, axis)
        if min(s.stop - s.start for s in crop) < WIN_SIZE:
            raise ValueError(
                f"the mask's bounding box {crop} is smaller than the {WIN_SIZE}-pixel window"
            )
        slices = selected_slices(m, axis, min_fraction)
        regions: dict[str, NDArray[np.bool_]] = {}
        slabs: dict[str, NDArray[np.bool_]] = {}
        if tumour is not None:
            labels = np.asarray(tumour)
            if labels.shape != m.shape:
                raise ValueError(
                    f"tumour labels of shape {labels.shape} for volumes of shape {m.shape}"
                )
            tum = m & (labels > 0)
            for name, region in (("tumour", tum), ("healthy", m & ~tum)):
                regions[name] = region[m]
                slabs[name] = _slab(region, slices, crop, axis)
        slab = _slab(g, slices, crop, axis)
        mean = _smooth(slab)
        return cls(
            shape=m.shape,
            mask=m,
            truth_in_mask=g[m],
            regions=regions,
            slices=slices,
            crop=crop,
            axis=axis,
            truth_slab=slab,
            truth_mean=mean,
            truth_var=_smooth(slab * slab) - mean * mean,
            region_slabs=slabs,
        )

    def score(self, pred: ArrayLike) -> dict[str, float]:
        """psnr, mae, ssim (+ psnr_/ssim_ tumour and healthy with labels) of ``pred``."""
        # float64 only where it is read (the mask's voxels, the slab), not the whole volume
        p = np.asarray(pred)
        if p.shape != self.shape:
            raise ValueError(f"expected a prediction of shape {self.shape}, got {p.shape}")
        diff = p[self.mask].astype(np.float64) - self.truth_in_mask  # (V,)
        squared = diff**2
        err = float(np.mean(squared))
        maps = self.ssim_maps(_slab(p, self.slices, self.crop, self.axis).astype(np.float64))
        per_slice = mean_ssim(maps)
        out = {
            "psnr": _psnr_of(err),
            "mae": float(np.mean(np.abs(diff))),
            "ssim": float(per_slice.mean()) if per_slice.size else float("nan"),
        }
        for name, region in self.regions.items():  # tumour, then healthy
            region_err = float(np.mean(squared[region])) if region.any() else float("nan")
            out[f"psnr_{name}"] = _psnr_of(region_err)
            slab = self.region_slabs[name]
            out[f"ssim_{name}"] = float(maps[slab].mean()) if slab.any() else float("nan")
        return out

    def ssim_maps(self, slab: Float) -> Float:
        """The SSIM maps (N, h, w) of a prediction's slab against the truth's (ssim_maps)."""
        ux, uy = _smooth(slab), self.truth_mean
        vx = _smooth(slab * slab) - ux * ux
        vxy = _smooth(slab * self.truth_slab) - ux * uy
        return _ssim_of_moments(ux, uy, vx, self.truth_var, vxy)


def _psnr_of(err: float) -> float:
    """10 log10(1 / MSE); inf for MSE 0 and nan for nan (as :func:`psnr`)."""
    return float("inf") if err == 0.0 else float(10.0 * np.log10(1.0 / err))
