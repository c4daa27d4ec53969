"""Signal equations against closed forms, and tissue contrast order in the phantom."""

from __future__ import annotations

import numpy as np
import pytest

from mmhvae.phantom.generate import PhantomCase
from mmhvae.phantom.mri import (
    RELAXATION,
    SEQUENCES,
    Contrast,
    contrast_enhanced_t1,
    inversion_recovery,
    mix,
    null_inversion_time,
    rician,
    spin_echo,
    spoiled_gre,
    tissue_signals,
)


def a(x: float) -> np.ndarray:
    return np.array([x], dtype=np.float64)


@pytest.mark.parametrize("t1", [800.0, 1800.0, 4160.0])
def test_null_inversion_time_nulls_the_tissue(t1: float) -> None:
    ti = null_inversion_time(t1, 9000.0)
    assert inversion_recovery(a(1.0), a(t1), a(100.0), 9000.0, 0.0, ti)[0] == pytest.approx(
        0.0, abs=1e-12
    )
    # long TR: the classic TI = T1 ln 2
    assert null_inversion_time(t1, 1e9) == pytest.approx(t1 * np.log(2.0))


def test_spin_echo_limits() -> None:
    # TR >> T1 and TE = 0: proton density; TE = T2: PD/e
    assert spin_echo(a(0.7), a(1000.0), a(80.0), 1e9, 0.0)[0] == pytest.approx(0.7)
    assert spin_echo(a(0.7), a(1000.0), a(80.0), 1e9, 80.0)[0] == pytest.approx(0.7 / np.e)


def test_spoiled_gre_peaks_at_the_ernst_angle() -> None:
    t1, tr = 1000.0, 10.0
    ernst = np.rad2deg(np.arccos(np.exp(-tr / t1)))
    angles = np.linspace(1.0, 30.0, 2901)
    signal = [spoiled_gre(a(1.0), a(t1), a(50.0), tr, 0.0, f)[0] for f in angles]
    assert angles[int(np.argmax(signal))] == pytest.approx(ernst, abs=0.02)
    # 90 degrees: saturation recovery 1 - E1
    assert spoiled_gre(a(1.0), a(t1), a(50.0), tr, 0.0, 90.0)[0] == pytest.approx(
        1 - np.exp(-tr / t1)
    )


def test_contrast_agent_shortens_t1() -> None:
    assert contrast_enhanced_t1(a(1000.0), 4e-3, a(0.0))[0] == pytest.approx(1000.0)
    # 1/T1' = 1/1000 + 4e-3 * 0.25 = 2/1000
    assert contrast_enhanced_t1(a(1000.0), 4e-3, a(0.25))[0] == pytest.approx(500.0)


@pytest.mark.parametrize("field", sorted(RELAXATION))
def test_tissue_order_per_contrast(field: float) -> None:
    t1 = tissue_signals(SEQUENCES[Contrast.T1], field)
    t1ce = tissue_signals(SEQUENCES[Contrast.T1CE], field)
    t2 = tissue_signals(SEQUENCES[Contrast.T2], field)
    flair = tissue_signals(SEQUENCES[Contrast.FLAIR], field)
    assert t1["wm"] > t1["gm"] > t1["csf"]
    assert t2["csf"] > t2["gm"] > t2["wm"]
    assert min(flair, key=flair.__getitem__) == "csf"
    assert flair["oedema"] > max(flair["gm"], flair["wm"])
    assert t1ce["enhancing"] / t1ce["wm"] > 1.5 * t1["enhancing"] / t1["wm"]


def test_mix_is_the_fraction_weighted_sum() -> None:
    fractions = {
        "gm": np.full((2, 2, 2), 0.25, np.float32),
        "csf": np.full((2, 2, 2), 0.5, np.float32),
    }
    out = mix(fractions, {"gm": 4.0, "csf": 2.0})
    np.testing.assert_allclose(out, 2.0)


def test_rician_noise_of_zero_signal_is_rayleigh() -> None:
    noise = rician(np.zeros((64, 64, 16), np.float32), 3.0, np.random.default_rng(0))
    assert noise.mean() == pytest.approx(3.0 * np.sqrt(np.pi / 2), rel=0.02)
    assert (noise >= 0).all()


def _tissue_means(case: PhantomCase, modality: str) -> dict[str, float]:
    """Mean intensity where a tissue's known fraction exceeds 0.9."""
    image = case.images[modality].astype(np.float64)
    return {
        name: float(image[fraction > 0.9].mean())
        for name, fraction in case.fractions.items()
        if np.count_nonzero(fraction > 0.9) > 20
    }


def test_phantom_images_follow_the_tissue_order(complete_cases: list[PhantomCase]) -> None:
    for case in complete_cases:
        t1, t2 = _tissue_means(case, "t1"), _tissue_means(case, "t2")
        flair, t1ce = _tissue_means(case, "flair"), _tissue_means(case, "t1ce")
        assert t1["wm"] > t1["gm"] > t1["csf"], case.case_id
        assert t2["csf"] > t2["gm"] > t2["wm"], case.case_id
        assert flair["csf"] < min(flair["gm"], flair["wm"]), case.case_id
        assert flair["oedema"] > max(flair["gm"], flair["wm"]), case.case_id
        if "enhancing" in t1ce:
            assert t1ce["enhancing"] / t1ce["wm"] > t1["enhancing"] / t1["wm"], case.case_id


def test_phantom_is_skull_stripped(complete_cases: list[PhantomCase]) -> None:
    for case in complete_cases:
        brain = (case.fractions["gm"] + case.fractions["wm"] + case.fractions["csf"]) > 0
        outside = ~brain & (case.seg == 0)
        for modality in ("t1", "t1ce", "t2", "flair"):
            image = case.images[modality]
            assert image.dtype == np.int16
            assert not image[outside].any()
            assert 200 < np.median(image[image > 0]) < 3000
