"""MR contrasts from signal equations, relaxation times per tissue and partial-volume mixing.

Times are in ms, proton density (PD) relative to water. Healthy tissue at 3 T: Stanisz et al.
MRM 2005 (T1, T2 of GM and WM), Lu et al. JMRI 2005 (CSF T1), Peters et al. MRI 2007 (T2*);
at 1.5 T: Stanisz 2005; PD: the usual 0.69 (WM), 0.80 (GM), 1.0 (CSF). Tumour tissue values
are typical of glioma relaxometry (oedema and enhancing tumour with T1 and T2 well above white
matter, necrosis close to fluid); they are approximate by nature. Gadolinium relaxivity r1 in
plasma: about 4.1 /mM/s at 1.5 T and 3.7 /mM/s at 3 T (Rohrer et al. 2005).

Images are ``(X, Y, Z)`` float32; ``fractions`` maps tissue name -> ``(X, Y, Z)`` fraction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from mmhvae.phantom.anatomy import smooth_upsample

FloatArray = NDArray[np.float32]
TISSUES = ("gm", "wm", "csf", "necrosis", "enhancing", "oedema")


@dataclass(frozen=True)
class Relaxation:
    t1: float  # ms
    t2: float  # ms
    t2star: float  # ms
    pd: float  # relative to water


RELAXATION: dict[float, dict[str, Relaxation]] = {
    1.5: {
        "gm": Relaxation(1124.0, 95.0, 84.0, 0.80),
        "wm": Relaxation(884.0, 72.0, 66.0, 0.69),
        "csf": Relaxation(4070.0, 2000.0, 1500.0, 1.00),
        "necrosis": Relaxation(2500.0, 500.0, 300.0, 0.95),
        "enhancing": Relaxation(1400.0, 120.0, 80.0, 0.85),
        "oedema": Relaxation(1350.0, 170.0, 100.0, 0.86),
    },
    3.0: {
        "gm": Relaxation(1820.0, 99.0, 66.0, 0.80),
        "wm": Relaxation(1084.0, 69.0, 53.0, 0.69),
        "csf": Relaxation(4160.0, 2000.0, 1500.0, 1.00),
        "necrosis": Relaxation(3000.0, 500.0, 300.0, 0.95),
        "enhancing": Relaxation(1900.0, 120.0, 70.0, 0.85),
        "oedema": Relaxation(1800.0, 160.0, 90.0, 0.86),
    },
}
RELAXIVITY_R1: dict[float, float] = {1.5: 4.1e-3, 3.0: 3.7e-3}  # /mM/ms
# Tissue gadolinium concentration after injection (mM): blood volume x plasma level for
# healthy tissue, leakage through the broken blood-brain barrier in the enhancing rim.
GADOLINIUM_MM: dict[str, float] = {
    "gm": 0.03,
    "wm": 0.015,
    "csf": 0.0,
    "necrosis": 0.0,
    "enhancing": 0.6,
    "oedema": 0.04,
}


def spoiled_gre(
    pd: NDArray[np.float64],
    t1: NDArray[np.float64],
    t2star: NDArray[np.float64],
    tr: float,
    te: float,
    flip_deg: float,
) -> NDArray[np.float64]:
    """Spoiled gradient echo (FLASH): ``S = PD sin(a) (1 - E1) / (1 - cos(a) E1) exp(-TE/T2*)``,
    ``E1 = exp(-TR/T1)``."""
    a = np.deg2rad(flip_deg)
    e1 = np.exp(-tr / t1)
    return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-te / t2star)


def spin_echo(
    pd: NDArray[np.float64], t1: NDArray[np.float64], t2: NDArray[np.float64], tr: float, te: float
) -> NDArray[np.float64]:
    """Spin echo: ``S = PD (1 - exp(-TR/T1)) exp(-TE/T2)``."""
    return pd * (1 - np.exp(-tr / t1)) * np.exp(-te / t2)


def inversion_recovery(
    pd: NDArray[np.float64],
    t1: NDArray[np.float64],
    t2: NDArray[np.float64],
    tr: float,
    te: float,
    ti: float,
) -> NDArray[np.float64]:
    """Magnitude inversion recovery: ``S = PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``."""
    return pd * np.abs(1 - 2 * np.exp(-ti / t1) + np.exp(-tr / t1)) * np.exp(-te / t2)


def null_inversion_time(t1: float, tr: float) -> float:
    """TI that nulls a tissue of ``t1`` in :func:`inversion_recovery`:
    ``1 - 2 exp(-TI/T1) + exp(-TR/T1) = 0``  =>  ``TI = T1 ln(2 / (1 + exp(-TR/T1)))``."""
    return float(t1 * np.log(2.0 / (1.0 + np.exp(-tr / t1))))


def contrast_enhanced_t1(
    t1: NDArray[np.float64], r1: float, concentration: NDArray[np.float64]
) -> NDArray[np.float64]:
    """T1 shortened by a contrast agent: ``1/T1' = 1/T1 + r1 C`` (r1 in /mM/ms, C in mM)."""
    return 1.0 / (1.0 / t1 + r1 * concentration)


class Contrast(str, Enum):
    T1 = "t1"
    T1CE = "t1ce"
    T2 = "t2"
    FLAIR = "flair"


@dataclass(frozen=True)
class Sequence:
    """Acquisition parameters (ms, degrees). ``ti = 0`` for FLAIR means: null CSF."""

    kind: str  # "gre", "se" or "ir"
    tr: float
    te: float
    flip_deg: float = 90.0
    ti: float = 0.0
    gadolinium: bool = False


SEQUENCES: dict[Contrast, Sequence] = {
    Contrast.T1: Sequence("gre", tr=11.0, te=4.0, flip_deg=15.0),
    Contrast.T1CE: Sequence("gre", tr=11.0, te=4.0, flip_deg=15.0, gadolinium=True),
    Contrast.T2: Sequence("se", tr=5000.0, te=100.0),
    Contrast.FLAIR: Sequence("ir", tr=9000.0, te=110.0),
}


def tissue_signals(sequence: Sequence, field_t: float = 3.0) -> dict[str, float]:
    """Noise-free signal of each pure tissue under ``sequence`` at ``field_t`` tesla."""
    table = RELAXATION[field_t]
    names = list(table)
    pd = np.array([table[n].pd for n in names])
    t1 = np.array([table[n].t1 for n in names])
    t2 = np.array([table[n].t2 for n in names])
    t2star = np.array([table[n].t2star for n in names])
    if sequence.gadolinium:
        conc = np.array([GADOLINIUM_MM[n] for n in names])
        t1 = contrast_enhanced_t1(t1, RELAXIVITY_R1[field_t], conc)
    if sequence.kind == "gre":
        signal = spoiled_gre(pd, t1, t2star, sequence.tr, sequence.te, sequence.flip_deg)
    elif sequence.kind == "se":
        signal = spin_echo(pd, t1, t2, sequence.tr, sequence.te)
    elif sequence.kind == "ir":
        ti = sequence.ti or null_inversion_time(table["csf"].t1, sequence.tr)
        signal = inversion_recovery(pd, t1, t2, sequence.tr, sequence.te, ti)
    else:
        raise ValueError(f"unknown sequence kind {sequence.kind!r}")
    return {n: float(s) for n, s in zip(names, signal, strict=True)}


def mix(fractions: Mapping[str, FloatArray], signals: Mapping[str, float]) -> FloatArray:
    """Partial-volume signal ``S(x) = sum_t f_t(x) S_t`` ``(X, Y, Z)``."""
    out: FloatArray | None = None
    for name, fraction in fractions.items():
        term = fraction * np.float32(signals[name])
        out = term if out is None else out + term
    if out is None:
        raise ValueError("no tissue fractions given")
    return out.astype(np.float32)


def bias_field(
    shape: tuple[int, int, int], rng: np.random.Generator, amplitude: float = 0.12
) -> FloatArray:
    """Smooth multiplicative field ``exp(amplitude * n(x))``, n a cubic-spline upsampled 4^3
    Gaussian grid (a receive-coil profile varies over ~10 cm)."""
    field = smooth_upsample(rng.standard_normal((4, 4, 4)), shape)
    return np.exp(amplitude * field).astype(np.float32)


def rician(signal: FloatArray, sigma: float, rng: np.random.Generator) -> FloatArray:
    """Magnitude of the signal plus complex Gaussian noise: ``|S + n_r + i n_i|``, n ~ N(0, s^2)."""
    real = signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    return np.hypot(real, imag).astype(np.float32)


def mr_image(
    fractions: Mapping[str, FloatArray],
    brain: NDArray[np.bool_],
    contrast: Contrast | str,
    rng: np.random.Generator,
    field_t: float = 3.0,
    snr: float = 30.0,
    white_matter_level: float = 800.0,
) -> FloatArray:
    """One skull-stripped MR volume: mixed tissue signals x bias field + Rician noise, scaled so
    that pure white matter reads ``white_matter_level`` (scanner-like units); 0 outside
    ``brain``. ``snr`` is the white matter signal over the noise std."""
    signals = tissue_signals(SEQUENCES[Contrast(contrast)], field_t)
    gain = white_matter_level / signals["wm"]
    clean = mix(fractions, {n: s * gain for n, s in signals.items()})
    clean *= bias_field(clean.shape, rng)
    noisy = rician(clean, white_matter_level / snr, rng)
    noisy[~brain] = 0.0
    return noisy
