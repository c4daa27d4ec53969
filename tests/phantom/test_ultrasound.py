"""Ultrasound: speckle statistics (on the envelope), grain, shadowing, the fan, log
compression and ray physics in closed form, probe placement and tissue contrast."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mmhvae.phantom.generate import PhantomCase
from mmhvae.phantom.ultrasound import (
    ACOUSTIC,
    RAYLEIGH_SNR,
    AcousticTissue,
    Probe,
    log_compress,
    ray_echo,
    rayleigh_speckle,
    simulate_envelope,
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


def _correlation(field: np.ndarray, lag: int, axis: int) -> float:
    a = np.moveaxis(field, axis, 0)
    return float(np.corrcoef(a[:-lag].ravel(), a[lag:].ravel())[0, 1])


def test_homogeneous_tissue_shows_fully_developed_correlated_speckle() -> None:
    fractions = {"wm": np.ones(SHAPE, np.float32)}
    env = simulate_envelope(fractions, _probe(), 1.0, np.random.default_rng(2))
    # envelope over the noise-free echo: the speckle alone, near the axis at mid depth
    ratio = (env.values / np.maximum(env.echo, 1e-12))[18:30, 20:36, 8:16]
    assert ratio.mean() / ratio.std() == pytest.approx(RAYLEIGH_SNR, rel=0.05)
    raw = env.values[18:30, 20:36, 8:16]  # the echo varies little there: still Rayleigh-like
    assert raw.mean() / raw.std() == pytest.approx(RAYLEIGH_SNR, rel=0.10)
    # the grain is a resolution cell of 1-2 voxels, not independent per voxel
    for axis in range(3):
        assert _correlation(ratio, 1, axis) > 0.2, axis
        assert abs(_correlation(ratio, 5, axis)) < 0.15, axis


def test_fluid_is_anechoic_and_its_wall_bright() -> None:
    cavity = np.zeros(SHAPE, np.float32)
    cavity[18:30, 24:36, 6:18] = 1.0  # a ventricle-like box of CSF at mid depth
    fractions = {"wm": 1.0 - cavity, "csf": cavity}
    image = simulate_ultrasound(fractions, _probe(), 1.0, np.random.default_rng(5))
    inside = image[21:27, 27:33, 9:15].mean()
    wall = image[18:30, 23:25, 6:18].mean()  # the proximal wall, across the beam
    tissue = image[18:30, 14:20, 6:18].mean()  # white matter above it, same lateral span
    assert inside < tissue - 50.0 and wall > tissue + 25.0


def test_log_compression_closed_form() -> None:
    reference, dr = 2.0, 50.0
    values = reference * 10.0 ** (np.array([0.0, -25.0, -50.0, -80.0, 6.0]) / 20.0)
    np.testing.assert_allclose(
        log_compress(values, reference, dr), [255.0, 127.5, 0.0, 0.0, 255.0], atol=1e-3
    )


def test_zero_outside_the_fan_b_mode_inside() -> None:
    fractions = {"wm": np.ones(SHAPE, np.float32)}
    probe = _probe(40.0)
    image = simulate_ultrasound(fractions, probe, 1.0, np.random.default_rng(3))
    points = np.indices(SHAPE, dtype=np.float32).reshape(3, -1)
    r, theta, phi = to_fan_coordinates(points, probe)
    outside = (r > 40.5) | (np.abs(theta) > np.deg2rad(30.5)) | (np.abs(phi) > np.deg2rad(30.5))
    inside = (r < 39.5) & (np.abs(theta) < np.deg2rad(29.5)) & (np.abs(phi) < np.deg2rad(29.5))
    assert not image.reshape(-1)[outside].any()
    assert (image.reshape(-1)[inside] >= 1.0).all()  # us > 0 is the field of view
    assert image.max() <= 255.0
    assert 40.0 < np.median(image.reshape(-1)[inside]) < 160.0  # tissue is mid-grey


def test_shadow_under_a_strong_reflector_is_darker() -> None:
    table = {**ACOUSTIC, "bone": AcousticTissue(0.4, 7.8, 0.8)}
    wm = np.ones(SHAPE, np.float32)
    bone = np.zeros(SHAPE, np.float32)
    bone[18:30, 24:27, :] = 1.0  # a plate across the beam at depth ~25 voxels
    wm -= bone
    fractions = {"wm": wm, "bone": bone}
    env = simulate_envelope(fractions, _probe(), 1.0, np.random.default_rng(4), table=table)
    above, below = (
        (slice(20, 28), slice(12, 22), slice(8, 16)),
        (slice(20, 28), slice(32, 45), slice(8, 16)),
    )
    assert env.values[below].mean() < 0.2 * env.values[above].mean()
    image = simulate_ultrasound(fractions, _probe(), 1.0, np.random.default_rng(4), table=table)
    assert image[below].mean() < image[above].mean() - 50.0  # more than 10 dB darker


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


def test_probe_sits_on_the_cortex_with_the_tumour_in_the_fan(
    complete_cases: list[PhantomCase],
) -> None:
    for case in complete_cases:
        probe = case.probe
        assert probe is not None
        brain = np.sum(list(case.fractions.values()), axis=0) > 0.5
        distance = ndimage.distance_transform_edt(~brain)
        # the apex touches the brain and the probe's back is outside it
        assert ndimage.map_coordinates(distance, probe.apex[:, None], order=1)[0] <= 1.5
        behind = probe.apex - 3.0 * probe.axis
        assert not brain[tuple(np.round(behind).astype(int))], case.case_id
        assert 60.0 <= probe.depth_mm <= 100.0 and 32.0 <= probe.lateral_deg <= 45.0
        r, theta, phi = to_fan_coordinates(case.tumour.centre[:, None].astype(np.float32), probe)
        assert r[0] < probe.depth_mm / 2.0 - case.tumour.radii.max(), case.case_id
        assert abs(theta[0]) < np.deg2rad(10.0) and abs(phi[0]) < np.deg2rad(10.0), case.case_id
        assert (case.images["us"][case.seg == 4] > 0).mean() > 0.9, case.case_id


def test_phantom_b_mode_tissue_contrast(complete_cases: list[PhantomCase]) -> None:
    for case in complete_cases:
        us = case.images["us"].astype(np.float64)
        fan = us > 0
        enhancing = fan & (case.seg == 4)
        oedema = fan & (case.seg == 2)
        wm = fan & (case.fractions["wm"] > 0.9)
        assert us[enhancing].mean() > us[oedema].mean() > us[wm].mean(), case.case_id
        assert us[enhancing].mean() > us[wm].mean() + 60.0, case.case_id  # about 12 dB
        ventricle = fan & (ndimage.binary_erosion(case.fractions["csf"] > 0.9, iterations=2))
        if ventricle.sum() > 10:
            assert us[ventricle].mean() < us[wm].mean(), case.case_id
        outside = ndimage.distance_transform_edt(sum(case.fractions.values()) == 0)
        saline = fan & (outside >= 2.0)  # in the fan, away from the bright cortical surface
        if saline.sum() > 10:
            assert us[saline].mean() < 0.3 * us[fan & ~saline].mean(), case.case_id
