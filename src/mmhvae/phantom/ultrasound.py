"""Intra-operative ultrasound (iUS) simulated from the tissue fractions, as a B-mode volume.

A 3D sector (fan) of rays leaves a probe lying on the cortex in the craniotomy above the
tumour. Along each ray (polar grid ``(R, T, P)``: range, lateral angle, elevation angle) the
tissue properties give the mean echo amplitude: backscatter (echogenicity), bright membranes
(pia in the sulci, ependyma, falx, cortical surface: fluid/tissue interfaces) and specular
reflections at acoustic impedance jumps, times the round-trip attenuation (partly undone by
time-gain compensation) and the transmission left after the reflectors above (acoustic
shadowing). The echo is scan-converted onto the voxel grid and multiplied by fully developed
speckle, a spatially correlated circular complex Gaussian field (grain a resolution cell of
1-2 voxels, elongated laterally, widening with depth as a sector beam does), plus a weak
electronic noise floor. Its magnitude, the envelope, is Rayleigh distributed in a
homogeneous region (mean/std ``sqrt(pi / (4 - pi)) = 1.913``). The envelope is then
log-compressed into the 8-bit-like range a scanner exports: 1..255 inside the fan, 0 outside.
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


# Brain iUS (amplitudes; 20 log10 of a ratio is the contrast in dB): solid tumour and its
# border hyperechoic, oedema moderately bright, white matter a little brighter than the
# cortex, CSF and necrosis anechoic. Fluid/tissue interfaces add MEMBRANE_ECHO on top.
ACOUSTIC: dict[str, AcousticTissue] = {
    "gm": AcousticTissue(0.06, 1.60, 0.6),
    "wm": AcousticTissue(0.08, 1.62, 0.7),
    "csf": AcousticTissue(0.002, 1.51, 0.002),
    "necrosis": AcousticTissue(0.012, 1.55, 0.3),
    "enhancing": AcousticTissue(0.90, 1.70, 0.9),
    "oedema": AcousticTissue(0.25, 1.64, 0.7),
}
OUTSIDE = AcousticTissue(0.0, 1.51, 0.002)  # the craniotomy is filled with saline
FLUIDS = ("csf",)  # its walls (pia in the sulci, ependyma) echo brightly
MEMBRANE_ECHO = 1.1  # echo amplitude of a sharp fluid/tissue interface


@dataclass(frozen=True)
class Probe:
    """Fan geometry: apex and unit beam axis (voxels), sector half-angles (deg), depth (mm)."""

    apex: NDArray[np.float64]  # (3,)
    axis: NDArray[np.float64]  # (3,)
    depth_mm: float = 70.0
    lateral_deg: float = 38.0
    elevation_deg: float = 30.0
    frequency_mhz: float = 5.0


@dataclass(frozen=True)
class Display:
    """Scanner settings: time-gain compensation, log compression, noise floor, grain."""

    tgc: float = 0.75  # fraction of the attenuation (in dB) that time-gain undoes
    dynamic_range_db: float = 50.0
    reference_echo: float = 0.08  # white matter's echogenicity (ACOUSTIC) ...
    reference_grey: float = 100.0  # ... shows this grey level before attenuation (the gain)
    noise_db: float = -24.0  # electronic noise amplitude relative to the reference echo
    grain_vox: tuple[float, float, float] = (0.7, 1.0, 1.0)  # PSF sigma: axial, lateral, elev.
    smooth_vox: float = 0.5  # the scanner's post-log speckle smoothing (Gaussian sigma)


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


def membrane_map(fractions: Mapping[str, FloatArray]) -> FloatArray:
    """Echo of fluid/tissue interfaces ``(X, Y, Z)`` in [0, 1]: ``min(1, 3 |grad f|)`` of the
    fluid fraction ``f`` (CSF and saline; gradient per voxel after a 0.7-voxel
    Gaussian). Thin sulci and the interhemispheric fissure are partial-volume CSF with a
    gradient on both sides, so they show as bright lines; a ventricle's wall is bright and
    its inside dark."""
    first = next(iter(fractions.values()))
    tissue = sum((v for k, v in fractions.items() if k not in FLUIDS), np.zeros_like(first))
    fluid = np.clip(1.0 - tissue, 0.0, 1.0)
    gradient = ndimage.gaussian_gradient_magnitude(fluid, 0.7)
    return np.minimum(1.0, 3.0 * gradient).astype(np.float32)


def ray_echo(
    echo: NDArray[np.floating],
    impedance: NDArray[np.floating],
    attenuation: NDArray[np.floating],
    step_mm: float,
    frequency_mhz: float,
    reflection_gain: float = 40.0,
    shadowing: float = 4.0,
    tgc: float = 0.9,
) -> FloatArray:
    """Mean echo along rays, range on axis 0 (``(R, ...)`` each, sampled every ``step_mm``).

    Reflection at each step: ``s_i = min(1, g |Z_{i+1} - Z_i| / (Z_{i+1} + Z_i) / dr)``
    (amplitude coefficient per mm, ``g`` in mm exaggerates the weak soft-tissue contrasts so
    that boundaries show). One-way transmission to depth i:
    ``T_i = prod_{j<i} (1 - min(k R_j^2, 0.999))`` with the physical amplitude reflection
    coefficient ``R_j = |Z_{j+1} - Z_j| / (Z_{j+1} + Z_j)`` (``k = shadowing``): soft-tissue
    boundaries (R about 0.03) lose almost nothing, a strong reflector (bone, calcium, R
    above 0.3) casts an acoustic shadow;
    attenuation ``A_i = 10^(-2 f sum_{j<i} alpha_j dr / 20)`` with ``dr`` in cm, partially
    compensated by time-gain ``exp(tgc * (-ln A_i))``. Echo: ``T_i^2 A_i^(1-tgc) (E_i + s_i)``.
    """
    z = impedance.astype(np.float64)
    jump = np.abs(np.diff(z, axis=0)) / np.maximum(z[1:] + z[:-1], 1e-6)
    s = np.minimum(1.0, reflection_gain * jump / step_mm)
    s = np.concatenate([s, np.zeros_like(s[:1])], axis=0)
    r = np.concatenate([jump, np.zeros_like(jump[:1])], axis=0)
    loss = np.log1p(-np.minimum(shadowing * r**2, 0.999))
    log_t = np.cumsum(loss, axis=0) - loss
    db = np.cumsum(attenuation, axis=0) * (2.0 * frequency_mhz * step_mm / 10.0)
    log_a = -db * np.log(10.0) / 20.0
    return (np.exp(2.0 * log_t + (1.0 - tgc) * log_a) * (echo + s)).astype(np.float32)


def complex_speckle(
    shape: tuple[int, ...], rng: np.random.Generator, sigma: float | tuple[float, ...] = 0.7
) -> tuple[FloatArray, FloatArray]:
    """Real and imaginary parts of a correlated circular complex Gaussian field, each of
    unit variance: white noise low-passed by the same Gaussian PSF (``sigma`` samples per
    axis), then divided by its measured std. ``|z|`` is Rayleigh at every point."""
    real = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    imag = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    s = np.float32(np.sqrt(0.5 * (real.var() + imag.var())))
    return real / s, imag / s


def rayleigh_speckle(
    shape: tuple[int, ...], rng: np.random.Generator, sigma: float | tuple[float, ...] = 0.7
) -> FloatArray:
    """Envelope ``|z|`` of :func:`complex_speckle` normalised to mean 1 (a Rayleigh envelope
    of parameter 1 has mean ``sqrt(pi/2)``)."""
    real, imag = complex_speckle(shape, rng, sigma)
    return (np.hypot(real, imag) / np.sqrt(np.pi / 2.0)).astype(np.float32)


def envelope(
    echo: NDArray[np.floating],
    speckle: tuple[NDArray[np.floating], NDArray[np.floating]],
    noise: tuple[NDArray[np.floating], NDArray[np.floating]],
    noise_level: float,
) -> FloatArray:
    """``|a z + n w|`` with ``a`` the mean echo, ``z``, ``w`` circular complex Gaussian fields
    whose parts have unit variance (speckle, electronic noise) and ``n`` the noise amplitude:
    Rayleigh of scale ``sqrt(a^2 + n^2)``, so a homogeneous region keeps mean/std = 1.913.
    Same shapes."""
    real = echo * speckle[0] + noise_level * noise[0]
    imag = echo * speckle[1] + noise_level * noise[1]
    return np.hypot(real, imag).astype(np.float32)


def log_compress(
    values: NDArray[np.floating], reference: float, dynamic_range_db: float
) -> FloatArray:
    """B-mode grey level ``255 (1 + 20 log10(e / e_ref) / DR)`` clipped to [0, 255]: the
    reference maps to 255, ``DR`` dB below it to 0."""
    db = 20.0 * np.log10(np.maximum(values, 1e-12) / reference)
    return np.clip(255.0 * (1.0 + db / dynamic_range_db), 0.0, 255.0).astype(np.float32)


@dataclass(frozen=True)
class Envelope:
    """:func:`simulate_envelope` output: ``values`` and noise-free ``echo`` ``(X, Y, Z)`` (0
    outside the fan) and the fan mask."""

    values: FloatArray
    echo: FloatArray
    fan: NDArray[np.bool_]


def simulate_envelope(
    fractions: Mapping[str, FloatArray],
    probe: Probe,
    spacing_mm: float,
    rng: np.random.Generator,
    table: Mapping[str, AcousticTissue] = ACOUSTIC,
    display: Display = Display(),
) -> Envelope:
    """Envelope of the echo (before log compression) on the voxel grid.

    1. tissue properties and :func:`membrane_map` sampled on the polar grid ``(R, T, P)``
       (steps of half a voxel in range and of 0.75 voxel laterally and in elevation at full
       depth);
    2. :func:`ray_echo` along the range axis;
    3. speckle (:func:`complex_speckle`) drawn on the same polar grid, so the grain
       follows the beam: ``grain_vox`` is the PSF sigma in voxels (lateral and elevation at
       mid-depth, growing linearly with range);
    4. echo and speckle interpolated at each voxel's (r, theta, phi) inside the fan, then
       :func:`envelope` with white complex noise of amplitude ``reference_echo 10^(noise_db/20)``.
    """
    echo, impedance, attenuation = property_maps(fractions, table)
    echo = echo + MEMBRANE_ECHO * membrane_map(fractions)
    shape = echo.shape
    depth = probe.depth_mm / spacing_mm  # voxels
    lat, ele = np.deg2rad(probe.lateral_deg), np.deg2rad(probe.elevation_deg)
    step_r, step_a = 0.5, 0.75 / depth  # voxels, radians
    r = np.arange(int(np.ceil(depth / step_r)) + 1) * step_r
    theta = np.linspace(-lat, lat, int(np.ceil(2 * lat / step_a)) + 1)
    phi = np.linspace(-ele, ele, int(np.ceil(2 * ele / step_a)) + 1)
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
        step_mm=step_r * spacing_mm,
        frequency_mhz=probe.frequency_mhz,
        tgc=display.tgc,
    )  # (R, T, P)
    mid = step_a * depth / 2.0  # voxels between angular samples at mid-depth
    sigma = (display.grain_vox[0] / step_r, display.grain_vox[1] / mid, display.grain_vox[2] / mid)
    speckle = complex_speckle(polar_echo.shape, rng, sigma)

    points = np.indices(shape, dtype=np.float32).reshape(3, -1)  # (3, X*Y*Z)
    rr, th, ph = to_fan_coordinates(points, probe)
    inside = (rr <= depth) & (np.abs(th) <= lat) & (np.abs(ph) <= ele)
    index = np.stack(
        [
            rr[inside] / step_r,
            (th[inside] + lat) / (theta[1] - theta[0]),
            (ph[inside] + ele) / (phi[1] - phi[0]),
        ]
    )  # (3, N inside)

    def at_voxels(polar_volume: FloatArray) -> FloatArray:
        return ndimage.map_coordinates(polar_volume, index, order=1, mode="nearest")

    mean_echo = at_voxels(polar_echo)
    # electronic noise: white (independent per voxel), circular, parts of unit variance
    white = rng.standard_normal((2, mean_echo.size), dtype=np.float32)
    values = envelope(
        mean_echo,
        (at_voxels(speckle[0]), at_voxels(speckle[1])),
        (white[0], white[1]),
        display.reference_echo * 10.0 ** (display.noise_db / 20.0),
    )
    out_values, out_echo = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    out_values.reshape(-1)[inside] = values
    out_echo.reshape(-1)[inside] = mean_echo
    return Envelope(out_values, out_echo, inside.reshape(shape))


def simulate_ultrasound(
    fractions: Mapping[str, FloatArray],
    probe: Probe,
    spacing_mm: float,
    rng: np.random.Generator,
    table: Mapping[str, AcousticTissue] = ACOUSTIC,
    display: Display = Display(),
) -> FloatArray:
    """B-mode volume ``(X, Y, Z)`` float32: :func:`simulate_envelope` log-compressed
    (:func:`log_compress`, fixed gain: the echo ``reference_echo`` maps to ``reference_grey``,
    i.e. 255 is ``e_ref 10^((1 - g / 255) DR / 20)``), lightly smoothed inside the fan
    (:func:`smooth_in_fan`), at least 1 inside the fan (so ``us > 0`` is the field of view)
    and 0 outside."""
    env = simulate_envelope(fractions, probe, spacing_mm, rng, table, display)
    above_db = (1.0 - display.reference_grey / 255.0) * display.dynamic_range_db
    reference = display.reference_echo * 10.0 ** (above_db / 20.0)
    image = log_compress(env.values, reference, display.dynamic_range_db)
    image = smooth_in_fan(image, env.fan, display.smooth_vox)
    return np.where(env.fan, np.maximum(image, 1.0), 0.0).astype(np.float32)


def smooth_in_fan(image: FloatArray, fan: NDArray[np.bool_], sigma: float) -> FloatArray:
    """Normalised Gaussian smoothing ``G*(I m) / G*m`` (``m`` the fan mask): the outside's
    zeros do not darken the fan's edge. Same shape; unchanged where ``sigma`` is 0."""
    if sigma <= 0:
        return image
    mask = fan.astype(np.float32)
    weight = ndimage.gaussian_filter(mask, sigma)
    smooth = ndimage.gaussian_filter(image * mask, sigma) / np.maximum(weight, 1e-6)
    return np.where(fan, smooth, 0.0).astype(np.float32)


def place_probe(
    brain: NDArray[np.bool_],
    target: NDArray[np.float64],
    spacing_mm: float,
    rng: np.random.Generator,
    margin_mm: float = 10.0,
) -> Probe:
    """A probe on the cortex in a craniotomy above ``target``, looking at it.

    Candidate sites are brain-surface voxels on the convexity, seen from the target at most
    10 degrees below and 25 degrees above its horizontal plane (no skull base, and an axial
    slice through the target cuts the sector close to its plane, as a fan), no more than
    ``margin_mm`` farther from the target than the closest one. One is drawn uniformly; the
    apex sits 1 mm outside it, the beam axis points at the target tilted by up to 6 degrees,
    the sector opens 64-90 degrees laterally and 70-90 in elevation (the swept wedge; at
    least the site's elevation plus 10 degrees, so that the axial plane through the target
    reaches the apex region), and 60-80 mm deep (farther when the target needs it)."""
    surface = brain & ~ndimage.binary_erosion(brain)
    sites = np.argwhere(surface).astype(np.float64)  # (N, 3)
    offset = sites - target
    distance = np.linalg.norm(offset, axis=1)
    height = offset[:, 2] / np.maximum(distance, 1e-6)  # sine of the site's elevation
    allowed = (height >= -np.sin(np.deg2rad(10.0))) & (height <= np.sin(np.deg2rad(25.0)))
    if not allowed.any():
        allowed[:] = True
    nearest = distance[allowed].min()
    candidates = np.flatnonzero(allowed & (distance <= nearest + margin_mm / spacing_mm))
    site = sites[int(rng.choice(candidates))]
    outward = (site - target) / max(float(np.linalg.norm(site - target)), 1e-6)
    apex = site + outward * (1.0 / spacing_mm)
    tilt = rng.normal(size=3)
    tilt -= tilt @ outward * outward
    tilt *= np.tan(np.deg2rad(rng.uniform(0.0, 6.0))) / max(float(np.linalg.norm(tilt)), 1e-6)
    axis = -outward + tilt
    rise = float(np.rad2deg(np.arcsin(np.clip(outward[2], -1.0, 1.0))))
    reach_mm = float(np.linalg.norm(target - apex)) * spacing_mm + 25.0
    return Probe(
        apex=apex,
        axis=axis / np.linalg.norm(axis),
        depth_mm=float(min(100.0, max(rng.uniform(60.0, 80.0), reach_mm))),
        lateral_deg=float(rng.uniform(32.0, 45.0)),
        elevation_deg=float(max(rng.uniform(35.0, 45.0), abs(rise) + 10.0)),
    )
