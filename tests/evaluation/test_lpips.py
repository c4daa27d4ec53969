"""LPIPS(alex) against the golden table of LPIPS_GOLDEN.md, and its installation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
import torch.nn.functional as F
from PIL import Image

from mmhvae.errors import WeightsMissingError
from mmhvae.evaluation.lpips import (
    LPIPS,
    default_weights_path,
    load_lpips,
    lpips_distances,
    lpips_slices,
    resolve_weights_path,
)

GOLDEN_ALEX = {  # LPIPS_GOLDEN.md, net alex
    "astronaut": {"blur5": 0.241523, "quant8": 0.150622, "down4": 0.366403},
    "camera": {"blur5": 0.317704, "quant8": 0.192878, "down4": 0.340450},
    "phantom": {"blur5": 0.249432, "quant8": 0.022005, "down4": 0.216362},
}
DISTORTIONS = {
    "blur5": lambda x: F.avg_pool2d(x, 5, 1, 2, count_include_pad=False),
    "quant8": lambda x: torch.round(x * 7) / 7,
    "down4": lambda x: F.interpolate(F.avg_pool2d(x, 4), scale_factor=4, mode="nearest"),
}


@pytest.fixture(scope="module")
def model() -> LPIPS:
    path = resolve_weights_path()
    if not path.is_file():
        pytest.skip(f"LPIPS weights not installed at {path}: run `mmhvae setup-lpips`")
    return load_lpips(path)


def skimage_image(name: str) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], grey repeated to 3 channels."""
    a = np.asarray(Image.open(Path(skimage.__file__).parent / "data" / f"{name}.png"))
    a = a.astype(np.float32) / 255
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1)[None]


@pytest.mark.parametrize("name", sorted(GOLDEN_ALEX))
def test_golden_values(model: LPIPS, name: str) -> None:
    x = skimage_image(name)
    with torch.inference_mode():
        for distortion, expected in GOLDEN_ALEX[name].items():
            value = float(model(x * 2 - 1, DISTORTIONS[distortion](x) * 2 - 1)[0])
            assert value == pytest.approx(expected, abs=1e-4), distortion


def test_identity_symmetry_and_batching(model: LPIPS) -> None:
    rng = np.random.default_rng(0)
    a = rng.random((3, 64, 72)).astype(np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    np.testing.assert_allclose(lpips_distances(model, a, a), 0.0, atol=1e-7)
    ab, ba = lpips_distances(model, a, b), lpips_distances(model, b, a)
    np.testing.assert_allclose(ab, ba, rtol=1e-5)
    assert (ab > 0).all()
    np.testing.assert_allclose(lpips_distances(model, a, b, batch_size=1), ab, rtol=1e-5)


def test_lpips_slices_averages_the_given_axial_slices(model: LPIPS) -> None:
    rng = np.random.default_rng(1)
    gt = rng.random((48, 40, 6))
    pred = np.clip(gt + 0.2 * rng.standard_normal(gt.shape), 0, 1)
    per_slice = lpips_distances(model, np.moveaxis(pred, -1, 0), np.moveaxis(gt, -1, 0))
    assert lpips_slices(model, pred, gt, [1, 4]) == pytest.approx(
        per_slice[[1, 4]].mean(), rel=1e-5
    )
    assert np.isnan(lpips_slices(model, pred, gt, []))
    with pytest.raises(ValueError, match="at least"):
        lpips_distances(model, gt[:20, :20, :2].T, gt[:20, :20, :2].T)


def test_missing_weights_name_the_setup_command(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WeightsMissingError, match="mmhvae setup-lpips"):
        load_lpips(tmp_path / "absent.safetensors")
    monkeypatch.setenv("LPIPS_WEIGHTS", str(tmp_path / "env.safetensors"))
    assert resolve_weights_path() == tmp_path / "env.safetensors"
    with pytest.raises(WeightsMissingError, match="mmhvae setup-lpips"):
        load_lpips()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsMissingError, match="setup-lpips --force"):
        load_lpips(bad)


def test_default_path_follows_xdg(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LPIPS_WEIGHTS", raising=False)
    assert default_weights_path() == tmp_path / "mmhvae" / "lpips_alex_v0.1.safetensors"
    assert resolve_weights_path() == default_weights_path()
    assert resolve_weights_path("x.safetensors") == Path("x.safetensors")
