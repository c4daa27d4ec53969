"""Intensity standardisation of training images that are not intensity references.

A volume stored with 8 bits per voxel was rescaled per volume before it was quantised
(e.g. HiNet's ``uint8 = (x + 1) * 127.5`` of a per-volume [-1, 1] image, bright tissue
saturated): its histogram after EVALUATION.md's percentile normalisation is not the one of
the scanner's image. Its anatomy is worth training on, its intensities are not: a synthesis
model trained on a mix learns the mix's contrast and is biased on full-precision patients
(measured on the real folds, RESULTS.md 2026-12-07: FLAIR's median brain intensity 0.67 in
the 8-bit volumes against 0.49 on average in the full-precision ones).

Such an image is mapped, inside the brain, by the piecewise-linear function that sends its
percentile landmarks to the mean landmarks of the same modality's reference images (Nyúl and
Udupa 1999; TorchIO's ``HistogramStandardization``):

    l_p(x) = the p-th percentile of x in the brain,  p in LANDMARKS
    x' = interp(x, l(x), mean over reference images r of l(r)),  0 outside the brain.

Shapes: M modalities, S slices, H W space, P landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmhvae.data.nifti import load_header
from mmhvae.data.preprocess import Prepared

LANDMARKS = np.linspace(0.5, 99.5, 41)  # percentiles (P,), every 2.475 of them


def stored_in_eight_bits(path: str | Path) -> bool:
    """Whether the NIfTI file at ``path`` stores one byte per voxel (its header alone is read;
    a bad file is a DataError naming it, data/nifti.py)."""
    return np.dtype(load_header(path).get_data_dtype()).itemsize == 1


def landmarks(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """image (S, H, W), mask (S, H, W) bool -> the LANDMARKS percentiles in the brain (P,)."""
    return np.percentile(image[mask], LANDMARKS)


def standardise_image(
    image: np.ndarray, mask: np.ndarray, source: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """image (S, H, W): the piecewise-linear map of landmarks ``source`` (P,) to ``target`` (P,)
    inside ``mask`` (flat beyond the end landmarks), 0 outside; float32. Landmarks never
    decrease (percentiles of one image); equal ones are merged."""
    # Tied source landmarks (a saturated 8-bit image: its top percentiles all 1.0) are one
    # point of the map, sent to the mean of their targets: np.interp alone would send the
    # whole tied mass to the last of them.
    points, group = np.unique(source, return_inverse=True)
    goals = np.bincount(group, weights=target) / np.bincount(group)
    out = np.zeros_like(image, dtype=np.float32)
    out[mask] = np.interp(image[mask], points, goals)
    return out


def reference_landmarks(cases: Sequence[Prepared]) -> dict[int, np.ndarray]:
    """modality index -> mean landmarks (P,) over the reference images of the cases (present
    and not listed in ``Prepared.eight_bit``); a modality with no reference image is absent."""
    per_modality: dict[int, list[np.ndarray]] = {}
    for case in cases:
        for m, name in enumerate(case.modalities):
            if case.present[m] and name not in case.eight_bit and case.mask.any():
                per_modality.setdefault(m, []).append(landmarks(case.images[m], case.mask))
    return {m: np.mean(values, axis=0) for m, values in per_modality.items()}


def standardise_cases(
    cases: Sequence[Prepared], reference: dict[int, np.ndarray] | None = None
) -> tuple[list[Prepared], list[str]]:
    """Map every 8-bit image of ``cases`` to ``reference`` (:func:`reference_landmarks`;
    default: those of ``cases``; training passes its training cases' to the validation
    cases, so that a validation case never shapes them); returns the cases (the others
    unchanged, the same objects) and one message per modality that was mapped, or that has
    no reference to map to."""
    if reference is None:
        reference = reference_landmarks(cases)
    mapped: dict[str, int] = {}
    unmapped: dict[str, int] = {}
    out: list[Prepared] = []
    for case in cases:
        todo = [
            m
            for m, name in enumerate(case.modalities)
            if case.present[m] and name in case.eight_bit and case.mask.any()
        ]
        if not todo:
            out.append(case)
            continue
        images = case.images.copy()  # (M, S, H, W)
        for m in todo:
            name = case.modalities[m]
            if m not in reference:
                unmapped[name] = unmapped.get(name, 0) + 1
                continue
            source = landmarks(images[m], case.mask)
            images[m] = standardise_image(images[m], case.mask, source, reference[m])
            mapped[name] = mapped.get(name, 0) + 1
        out.append(replace(case, images=images))
    messages = [
        f"{name}: {count} image(s) stored in 8 bits mapped to the intensity landmarks of the "
        f"full-precision {name} images (data/standardise.py)"
        for name, count in mapped.items()
    ] + [
        f"{name}: {count} image(s) stored in 8 bits kept as they are: no full-precision "
        f"{name} image to take intensities from"
        for name, count in unmapped.items()
    ]
    return out, messages
