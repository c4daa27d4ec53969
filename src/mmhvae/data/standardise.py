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

A trained model keeps the reference landmarks (the checkpoint's ``intensity_landmarks``): at
synthesis an input stored in 8 bits is mapped to them (:func:`standardise_inputs`), so that
the model reads it as it read such images in training.

Shapes: M modalities, S slices, H W space, P landmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmhvae.data.case import stored_in_one_byte
from mmhvae.data.nifti import load_header
from mmhvae.data.preprocess import Prepared

LANDMARKS = np.linspace(0.5, 99.5, 41)  # percentiles (P,), every 2.475 of them


def stored_in_eight_bits(path: str | Path) -> bool:
    """Whether the NIfTI file at ``path`` stores one byte per voxel (its header alone is read;
    a bad file is a DataError naming it, data/nifti.py)."""
    return stored_in_one_byte(load_header(path))


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


def landmarks_by_name(
    reference: Mapping[int, np.ndarray], modalities: Sequence[str]
) -> dict[str, list[float]]:
    """:func:`reference_landmarks` keyed by modality name, as plain floats (what a checkpoint
    stores)."""
    return {modalities[m]: [float(v) for v in values] for m, values in reference.items()}


def standardise_inputs(
    prepared: Prepared, eight_bit: Sequence[str], reference: Mapping[str, Sequence[float]]
) -> tuple[Prepared, list[str]]:
    """Synthesis: the prepared case with each input named in ``eight_bit`` (stored in 8 bits)
    mapped to the model's ``reference`` landmarks of that modality (by name; empty for a model
    trained without ``data.standardise_8bit``, which then reads its inputs as they are, as it
    read such images in training), and one line per 8-bit input naming the case and what was
    done: mapped, or used as it is when the model has no landmarks for that modality."""
    todo = [m for m in eight_bit if m in prepared.modalities]
    if not todo or not reference:
        return prepared, []
    names = prepared.modalities
    by_index = {
        names.index(m): np.asarray(v, np.float64) for m, v in reference.items() if m in names
    }
    (out,), _ = standardise_cases([replace(prepared, eight_bit=tuple(todo))], by_index)
    notes = []
    for m in todo:
        if not prepared.present[names.index(m)]:
            continue
        if m in reference:
            notes.append(
                f"case {prepared.case_id}: {m} is stored in 8 bits: mapped to the intensity "
                f"landmarks of the model's full-precision {m} training images, as in training "
                "(data/standardise.py)"
            )
        else:
            notes.append(
                f"case {prepared.case_id}: {m} is stored in 8 bits and the model has no "
                f"full-precision {m} landmarks: used as it is"
            )
    return out, notes
