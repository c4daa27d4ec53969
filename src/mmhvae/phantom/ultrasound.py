"""Intra-operative ultrasound (iUS) simulated from the tissue fractions.

A 3D sector (fan) of rays leaves a probe on the brain surface. Along each ray (polar grid
``(R, T, P)``: range, lateral angle, elevation angle) the tissue properties give the echo:
backscatter (echogenicity) plus specular reflections at acoustic impedance jumps, times the
round-trip attenuation and the transmission left after the reflectors above (acoustic
shadowing). The echo map is resampled onto the voxel grid and multiplied by fully developed
speckle: the Rayleigh envelope of a complex Gaussian field, whose mean/std is
``sqrt(pi / (4 - pi)) = 1.913``. Everything outside the fan is 0.
Volumes are ``(X, Y, Z)`` voxels; points and directions in voxel units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float32]
RAYLEIGH_SNR = float(np.sqrt(np.pi / (4.0 - np.pi)))  # mean/std of a Rayleigh envelope


@dataclass(frozen=True)
class AcousticTissue:
    echogenicity: float  # relative backscatter amplitude
    impedance: float  # MRayl
    attenuation: float  # dB / cm / MHz


# Brain iUS: CSF anechoic, white matter a little brighter than grey, solid tumour and its
# border hyperechoic, oedema moderately bright, necrosis darker and heterogeneous.
ACOUSTIC: dict[str, AcousticTissue] = {
    "gm": AcousticTissue(0.22, 1.60, 0.6),
    "wm": AcousticTissue(0.35, 1.62, 0.8),
    "csf": AcousticTissue(0.02, 1.51, 0.002),
    "necrosis": AcousticTissue(0.25, 1.57, 0.4),
    "enhancing": AcousticTissue(1.00, 1.70, 1.0),
    "oedema": AcousticTissue(0.60, 1.64, 0.7),
}
OUTSIDE = AcousticTissue(0.0, 1.51, 0.002)  # the resection cavity is filled with saline


@dataclass(frozen=True)
class Probe:
    """Fan geometry: apex and unit beam axis (voxels), sector half-angles (deg), depth (mm)."""

    apex: NDArray[np.float64]  # (3,)
    axis: NDArray[np.float64]  # (3,)
    depth_mm: float = 70.0
    lateral_deg: float = 35.0
    elevation_deg: float = 30.0
    frequency_mhz: float = 7.0


def fan_basis(axis: NDArray[np.float64]) -> NDArray[np.float64]:
    """Orthonormal ``(3, 3)`` rows ``(u, e1, e2)``: beam axis, lateral, elevation.

    The lateral direction is horizontal (perpendicular to u and to the voxel z axis), so an
    axial slice through the apex shows the classic 2D fan."""
    u = axis / np.linalg.norm(axis)
    e1 = np.cross([0.0, 0.0, 1.0], u)
    if np.linalg.norm(e1) < 1e-6:
        e1 = np.cross([0.0, 1.0, 0.0], u)
    e1 /= np.linalg.norm(e1)
    return np.stack([u, e1, np.cross(u, e1)])


def to_fan_coordinates(
    points: FloatArray, probe: Probe
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Range ``r`` (voxels) and angles ``theta`` (lateral), ``phi`` (elevation) in radians of
    ``points`` ``(3, N)``: with ``v = x - apex`` in the basis (u, e1, e2) = (a, b, c),
    ``theta = atan2(b, a)``, ``phi = atan2(c, a)``, ``r = |v|``."""
    basis = fan_basis(probe.axis).astype(np.float32)
    v = basis @ (points - probe.apex.astype(np.float32)[:, None])  # (3, N)
    r = np.sqrt(np.einsum("ij,ij->j", v, v))
    return r, np.arctan2(v[1], v[0]), np.arctan2(v[2], v[0])


def property_maps(
    fractions: Mapping[str, FloatArray], table: Mapping[str, AcousticTissue]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Partial-volume echogenicity, impedance and attenuation ``(X, Y, Z)`` each; the
    fraction not covered by any tissue is :data:`OUTSIDE` (saline)."""
    first = next(iter(fractions.values()))
    rest = np.ones_like(first)
    echo, impedance, attenuation = (np.zeros_like(first) for _ in range(3))
    for name, fraction in fractions.items():
        tissue = table[name]
        echo += fraction * tissue.echogenicity
        impedance += fraction * tissue.impedance
        attenuation += fraction * tissue.attenuation
        rest -= fraction
    rest = np.clip(rest, 0.0, 1.0)
    impedance += rest * OUTSIDE.impedance
    attenuation += rest * OUTSIDE.attenuation
    return echo, impedance, attenuation


def ray_echo(
    echo: NDArray[np.floating],
    impedance: NDArray[np.floating],
    attenuation: NDArray[np.floating],
    step_mm: float,
    frequency_mhz: float,
    reflection_gain: float = 40.0,
    shadowing: float = 0.5,
    tgc: float = 0.9,
) -> FloatArray:
    """Mean echo along rays, range on axis 0 (``(R, ...)`` each, sampled every ``step_mm``).

    Reflection at each step: ``s_i = min(1, g |Z_{i+1} - Z_i| / (Z_{i+1} + Z_i) / dr)``
    (amplitude coefficient per mm, ``g`` in mm exaggerates the weak soft-tissue contrasts so
    that boundaries show). One-way transmission to depth i:
    ``T_i = prod_{j<i} (1 - k s_j^2)`` (k = ``shadowing``: the shadow under a strong reflector),
    attenuation ``A_i = 10^(-2 f sum_{j<i} alpha_j dr / 20)`` with ``dr`` in cm, partially
    compensated by time-gain ``exp(tgc * (-ln A_i))``. Echo: ``T_i^2 A_i^(1-tgc) (E_i + s_i)``.
    """
    z = impedance.astype(np.float64)
    jump = np.abs(np.diff(z, axis=0)) / np.maximum(z[1:] + z[:-1], 1e-6)
    s = np.minimum(1.0, reflection_gain * jump / step_mm)
    s = np.concatenate([s, np.zeros_like(s[:1])], axis=0)
    loss = np.log1p(-np.minimum(shadowing * s**2, 0.999))
    log_t = np.cumsum(loss, axis=0) - loss
    db = np.cumsum(attenuation, axis=0) * (2.0 * frequency_mhz * step_mm / 10.0)
    log_a = -db * np.log(10.0) / 20.0
    return (np.exp(2.0 * log_t + (1.0 - tgc) * log_a) * (echo + s)).astype(np.float32)


def rayleigh_speckle(
    shape: tuple[int, ...], rng: np.random.Generator, sigma: float = 0.7
) -> FloatArray:
    """Envelope of a spatially correlated complex Gaussian field, normalised to mean 1.

    Real and imaginary parts are white noise low-passed by the same Gaussian (a point-spread
    function of ``sigma`` voxels): still circular Gaussian, so ``|z|`` is Rayleigh with
    mean ``s sqrt(pi/2)``, which we divide out (``s`` the measured part std)."""
    real = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    imag = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    s = float(np.sqrt(0.5 * (real.var() + imag.var())))
    return (np.hypot(real, imag) / (s * np.sqrt(np.pi / 2.0))).astype(np.float32)


def simulate_ultrasound(
    fractions: Mapping[str, FloatArray],
    probe: Probe,
    spacing_mm: float,
    rng: np.random.Generator,
    table: Mapping[str, AcousticTissue] = ACOUSTIC,
    speckle: bool = True,
) -> FloatArray:
    """B-mode envelope volume ``(X, Y, Z)`` float32 in [0, 255], 0 outside the fan.

    1. tissue properties sampled on the polar grid ``(R, T, P)`` (half-voxel range steps,
       lateral/elevation steps of at most one voxel at full depth);
    2. :func:`ray_echo` along the range axis;
    3. the echo resampled at each voxel's (r, theta, phi), times :func:`rayleigh_speckle`;
    4. scaled so that the 99th percentile of the noise-free echo in the fan maps to 180.
    """
    echo, impedance, attenuation = property_maps(fractions, table)
    shape = echo.shape
    depth = probe.depth_mm / spacing_mm  # voxels
    lat, ele = np.deg2rad(probe.lateral_deg), np.deg2rad(probe.elevation_deg)
    n_r = int(np.ceil(2 * depth)) + 1
    n_t = int(np.ceil(2 * lat * depth)) + 1
    n_p = int(np.ceil(2 * ele * depth)) + 1
    r = np.linspace(0.0, depth, n_r)
    theta = np.linspace(-lat, lat, n_t)
    phi = np.linspace(-ele, ele, n_p)
    basis = fan_basis(probe.axis)
    tt, pp = np.meshgrid(np.tan(theta), np.tan(phi), indexing="ij")  # (T, P)
    dirs = basis[0][:, None, None] + tt * basis[1][:, None, None] + pp * basis[2][:, None, None]
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)  # (3, T, P)
    polar = probe.apex[:, None, None, None] + r[None, :, None, None] * dirs[:, None]  # (3, R, T, P)

    def sample(volume: FloatArray, cval: float) -> NDArray[np.float64]:
        return ndimage.map_coordinates(volume, polar, order=1, mode="constant", cval=cval)

    polar_echo = ray_echo(
        sample(echo, 0.0),
        sample(impedance, OUTSIDE.impedance),
        sample(attenuation, OUTSIDE.attenuation),
        step_mm=float(r[1] - r[0]) * spacing_mm,
        frequency_mhz=probe.frequency_mhz,
    )  # (R, T, P)

    points = np.indices(shape, dtype=np.float32).reshape(3, -1)  # (3, X*Y*Z)
    rr, th, ph = to_fan_coordinates(points, probe)
    inside = (rr <= depth) & (np.abs(th) <= lat) & (np.abs(ph) <= ele)
    index = np.stack(
        [
            rr[inside] / (r[1] - r[0]),
            (th[inside] + lat) / (theta[1] - theta[0]),
            (ph[inside] + ele) / (phi[1] - phi[0]),
        ]
    )  # (3, N inside)
    values = ndimage.map_coordinates(polar_echo, index, order=1, mode="nearest")
    mean_echo = np.zeros(shape, dtype=np.float32)
    mean_echo.reshape(-1)[inside] = values
    positive = values[values > 0]
    gain = 180.0 / float(np.percentile(positive, 99)) if positive.size else 0.0
    image = mean_echo * np.float32(gain)
    if speckle:
        image *= rayleigh_speckle(shape, rng)
    return np.clip(image, 0.0, 255.0)


def place_probe(
    brain: NDArray[np.bool_],
    target: NDArray[np.float64],
    spacing_mm: float,
    rng: np.random.Generator,
) -> Probe:
    """A probe on the brain surface looking at ``target`` within its axial plane.

    Of 24 horizontal directions from the target, one whose path to the brain surface is
    among the shortest half is drawn (a craniotomy is placed close to the lesion); the apex
    sits 2 mm outside the surface and the fan reaches 40 mm beyond the target."""
    angles = np.linspace(0.0, 2 * np.pi, 24, endpoint=False)
    steps = np.arange(0.0, 200.0 / spacing_mm, 0.5)
    exits = []
    for angle in angles:
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        path = target[:, None] + direction[:, None] * steps[None]  # (3, S)
        inside = ndimage.map_coordinates(brain.astype(np.float32), path, order=0, cval=0.0) > 0.5
        outside = np.flatnonzero(~inside)
        exits.append(steps[outside[0]] if outside.size else steps[-1])
    exit_distance = np.asarray(exits)
    short = np.flatnonzero(exit_distance <= np.median(exit_distance))
    choice = int(rng.choice(short))
    direction = np.array([np.cos(angles[choice]), np.sin(angles[choice]), 0.0])
    distance = exit_distance[choice] + 2.0 / spacing_mm
    return Probe(
        apex=target + direction * distance,
        axis=-direction,
        depth_mm=float(distance * spacing_mm + 40.0),
        lateral_deg=float(rng.uniform(30.0, 40.0)),
        elevation_deg=float(rng.uniform(25.0, 35.0)),
    )
