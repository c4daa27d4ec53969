"""Ultrasound: speckle statistics, shadowing, the fan, ray physics in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from mmhvae.phantom.generate import PhantomCase
from mmhvae.phantom.ultrasound import (
    ACOUSTIC,
    RAYLEIGH_SNR,
    AcousticTissue,
    Probe,
    ray_echo,
    rayleigh_speckle,
    simulate_ultrasound,
    to_fan_coordinates,
)

SHAPE = (48, 64, 24)  # X (lateral), Y (beam), Z


def _probe(depth_vox: float = 56.0) -> Probe:
    return Probe(
        apex=np.array([24.0, -1.0, 12.0]),
        axis=np.array([0.0, 1.0, 0.0]),
        depth_mm=depth_vox,
        lateral_deg=30.0,
        elevation_deg=30.0,
    )


def test_rayleigh_snr_constant() -> None:
    assert RAYLEIGH_SNR == pytest.approx(1.913, abs=1e-3)


def test_speckle_envelope_has_rayleigh_snr() -> None:
    envelope = rayleigh_speckle((64, 64, 64), np.random.default_rng(1))
    assert envelope.mean() == pytest.approx(1.0, rel=0.03)
    assert envelope.mean() / envelope.std() == pytest.approx(RAYLEIGH_SNR, rel=0.05)


def test_homogeneous_tissue_shows_fully_developed_speckle() -> None:
    fractions = {"wm": np.ones(SHAPE, np.float32)}
    image = simulate_ultrasound(fractions, _probe(), 1.0, np.random.default_rng(2))
    region = image[18:30, 20:36, 8:16]  # near the axis, mid depth: homogeneous echo
    assert region.mean() / region.std() == pytest.approx(RAYLEIGH_SNR, rel=0.10)


def test_zero_outside_the_fan() -> None:
    fractions = {"wm": np.ones(SHAPE, np.float32)}
    probe = _probe(40.0)
    image = simulate_ultrasound(fractions, probe, 1.0, np.random.default_rng(3))
    points = np.indices(SHAPE, dtype=np.float32).reshape(3, -1)
    r, theta, phi = to_fan_coordinates(points, probe)
    outside = (r > 40.5) | (np.abs(theta) > np.deg2rad(30.5)) | (np.abs(phi) > np.deg2rad(30.5))
    assert not image.reshape(-1)[outside].any()
    assert (image.reshape(-1)[~outside] > 0).mean() > 0.9


def test_shadow_under_a_strong_reflector_is_darker() -> None:
    table = {**ACOUSTIC, "bone": AcousticTissue(0.4, 7.8, 0.8)}
    wm = np.ones(SHAPE, np.float32)
    bone = np.zeros(SHAPE, np.float32)
    bone[18:30, 24:27, :] = 1.0  # a plate across the beam at depth ~25 voxels
    wm -= bone
    fractions = {"wm": wm, "bone": bone}
    image = simulate_ultrasound(fractions, _probe(), 1.0, np.random.default_rng(4), table=table)
    above = image[20:28, 12:22, 8:16].mean()
    below = image[20:28, 32:45, 8:16].mean()
    assert below < 0.2 * above


def test_ray_echo_closed_forms() -> None:
    n = 50
    flat = np.ones((n, 1))
    # no attenuation, no impedance jump: the echo is the echogenicity everywhere
    np.testing.assert_allclose(
        ray_echo(0.3 * flat, 1.6 * flat, 0 * flat, 1.0, 5.0)[:, 0], 0.3, rtol=1e-6
    )
    # uniform attenuation, no time-gain: round trip exp(-2 f alpha r ln10/20) before sample i
    echo = ray_echo(flat, 1.6 * flat, 0.5 * flat, 1.0, 5.0, tgc=0.0)[:, 0]
    depth_cm = np.arange(1, n + 1) * 0.1
    np.testing.assert_allclose(echo, 10 ** (-2 * 5.0 * 0.5 * depth_cm / 20), rtol=1e-5)
    # a jump reflects (bright) and shadows what lies beyond it
    z = 1.6 * flat.copy()
    z[25:] = 3.2
    echo = ray_echo(0.3 * flat, z, 0 * flat, 1.0, 5.0)[:, 0]
    assert echo[24] > 0.3 and echo[30] < 0.3 and echo[10] == pytest.approx(0.3)


def test_phantom_tumour_is_brighter_than_white_matter(complete_cases: list[PhantomCase]) -> None:
    for case in complete_cases:
        us = case.images["us"].astype(np.float64)
        fan = us > 0
        enhancing = fan & (case.seg == 4)
        wm = fan & (case.fractions["wm"] > 0.9)
        if enhancing.sum() > 10 and wm.sum() > 10:
            assert us[enhancing].mean() > us[wm].mean(), case.case_id
        saline = fan & (sum(case.fractions.values()) == 0)  # in the fan, outside the brain
        if saline.sum() > 10:
            assert us[saline].mean() < 0.3 * us[fan & ~saline].mean(), case.case_id
