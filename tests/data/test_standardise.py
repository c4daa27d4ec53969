"""Histogram standardisation of 8-bit training images (data/standardise.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mmhvae.data.dataset import load_prepared_dataset
from mmhvae.data.standardise import (
    LANDMARKS,
    landmarks,
    landmarks_by_name,
    reference_landmarks,
    standardise_cases,
    standardise_image,
    standardise_inputs,
    stored_in_eight_bits,
)

from .test_dataset import MODALITIES, _prepared
from .volumes import brain_volume, write_nifti


def _mask(shape=(8, 40, 40)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[:, 5:35, 5:35] = True
    return mask


def test_the_map_sends_the_source_landmarks_onto_the_target_ones() -> None:
    rng = np.random.default_rng(0)
    mask = _mask()
    values = rng.random(mask.shape) ** 2
    low, high = np.percentile(values[mask], [LANDMARKS[0], LANDMARKS[-1]])
    # clipped at the end landmarks, as EVALUATION.md's normalisation leaves every image
    image = np.where(mask, values.clip(low, high), 0.0).astype(np.float32)
    target = np.sqrt(np.linspace(0.0, 1.0, LANDMARKS.size))  # a monotone other histogram
    out = standardise_image(image, mask, landmarks(image, mask), target)
    np.testing.assert_allclose(landmarks(out, mask), target, atol=2e-3)
    assert np.all(out[~mask] == 0) and out.dtype == np.float32
    # mapping onto its own landmarks changes nothing (the map is flat beyond the end ones)
    same = standardise_image(image, mask, landmarks(image, mask), landmarks(image, mask))
    np.testing.assert_allclose(same, image, atol=1e-5)


def test_a_saturated_mass_goes_to_the_mean_of_its_tied_targets() -> None:
    mask = _mask()
    rng = np.random.default_rng(1)
    image = np.where(mask, rng.random(mask.shape) * 0.8, 0.0).astype(np.float32)
    bright = mask & (rng.random(mask.shape) < 0.2)  # a fifth of the brain saturated at 1.0
    image[bright] = 1.0
    source = landmarks(image, mask)
    tied = source == 1.0
    assert tied.sum() > 5  # the 80th to 99.5th percentiles are all 1.0
    target = np.linspace(0.0, 1.0, LANDMARKS.size) ** 2
    out = standardise_image(image, mask, source, target)
    np.testing.assert_allclose(out[bright], target[tied].mean(), rtol=1e-6)
    assert out[bright].max() < target[-1] - 0.1  # not the last tied target


@pytest.mark.parametrize(
    ("dtype", "expected"), [(np.uint8, True), (np.int16, False), (np.float32, False)]
)
def test_eight_bits_are_read_from_the_header(tmp_path, dtype, expected) -> None:
    path = write_nifti(tmp_path / "x.nii.gz", (brain_volume() * 100).astype(dtype))
    assert stored_in_eight_bits(path) is expected


def test_eight_bit_images_take_the_mean_landmarks_of_the_references() -> None:
    full = [_prepared(name, MODALITIES, seed) for name, seed in (("a", 0), ("b", 7), ("e", 9))]
    coarse = _prepared("c", MODALITIES, 20)
    images = coarse.images.copy()
    images[2] = np.where(coarse.mask, images[2] ** 3, 0.0)  # another contrast for t2 only
    coarse = replace(coarse, images=images, eight_bit=("t2",))
    cases, messages = standardise_cases([*full, coarse])
    assert all(c is f for c, f in zip(cases, full, strict=False))  # references never touched
    expected = np.mean([landmarks(c.images[2], c.mask) for c in full], axis=0)
    np.testing.assert_allclose(landmarks(cases[3].images[2], coarse.mask), expected, atol=2e-2)
    for m in (0, 1, 3):  # its full-precision modalities are kept
        np.testing.assert_array_equal(cases[3].images[m], coarse.images[m])
    # landmarks taken from other cases than the ones mapped: the mapped case's own full
    # precision images do not count
    alone, _ = standardise_cases([coarse], reference_landmarks(full[:1]))
    own = landmarks(full[0].images[2], full[0].mask)
    np.testing.assert_allclose(landmarks(alone[0].images[2], coarse.mask), own, atol=2e-2)
    assert messages == [
        "t2: 1 image(s) stored in 8 bits mapped to the intensity landmarks of the "
        "full-precision t2 images (data/standardise.py)"
    ]


def test_a_modality_without_a_reference_is_kept_and_said() -> None:
    coarse = replace(_prepared("c", ("t1ce", "flair"), 3), eight_bit=("flair",))
    other = _prepared("d", ("t1ce",), 4)  # no full-precision flair anywhere
    assert 3 not in reference_landmarks([coarse, other])
    cases, messages = standardise_cases([coarse, other])
    np.testing.assert_array_equal(cases[0].images, coarse.images)
    assert messages == [
        "flair: 1 image(s) stored in 8 bits kept as they are: no full-precision flair image "
        "to take intensities from"
    ]


def test_synthesis_maps_an_8bit_input_to_the_models_landmarks() -> None:
    """A model keeps the landmarks of its training images by name; at synthesis an input
    stored in 8 bits takes them, the full-precision inputs are kept, and a line says so."""
    full = [_prepared(name, MODALITIES, seed) for name, seed in (("a", 0), ("b", 7))]
    reference = landmarks_by_name(reference_landmarks(full), MODALITIES)
    assert sorted(reference) == sorted(MODALITIES) and len(reference["t2"]) == len(LANDMARKS)
    coarse = _prepared("c", MODALITIES, 20)
    images = coarse.images.copy()
    images[2] = np.where(coarse.mask, images[2] ** 3, 0.0)  # another contrast for t2 only
    coarse = replace(coarse, images=images)
    out, notes = standardise_inputs(coarse, ("t2",), reference)
    np.testing.assert_allclose(landmarks(out.images[2], coarse.mask), reference["t2"], atol=2e-2)
    for m in (0, 1, 3):
        np.testing.assert_array_equal(out.images[m], coarse.images[m])
    assert notes == [
        "case c: t2 is stored in 8 bits: mapped to the intensity landmarks of the model's "
        "full-precision t2 training images, as in training (data/standardise.py)"
    ]
    # a model trained without landmarks reads its inputs as they are, silently
    assert standardise_inputs(coarse, ("t2",), {}) == (coarse, [])
    # a model with landmarks, but not of this modality
    kept, notes = standardise_inputs(coarse, ("t2",), {"t1": reference["t1"]})
    np.testing.assert_array_equal(kept.images, coarse.images)
    assert notes == [
        "case c: t2 is stored in 8 bits and the model has no full-precision t2 landmarks: "
        "used as it is"
    ]


def test_loading_marks_the_modalities_stored_in_eight_bits(tmp_path) -> None:
    rows = ["case,modality,path,kind"]
    for case, dtype in (("full", np.int16), ("coarse", np.uint8)):
        for i, m in enumerate(("t1", "t2")):
            data = (brain_volume((12, 10, 8), seed=i) * 100).astype(dtype)
            path = write_nifti(tmp_path / f"{case}_{m}.nii.gz", data, np.eye(4))
            rows.append(f"{case},{m},{path},image")
    (tmp_path / "cases.csv").write_text("\n".join(rows) + "\n")
    prepared, _ = load_prepared_dataset(tmp_path / "cases.csv", ("t1", "t2"), 16, progress=False)
    marks = {p.case_id: p.eight_bit for p in prepared}
    assert marks == {"full": (), "coarse": ("t1", "t2")}
