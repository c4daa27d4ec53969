"""Templates, fractions and deformations."""

from __future__ import annotations

import numpy as np
import pytest

from mmhvae.phantom.anatomy import (
    Size,
    load_templates,
    output_grid,
    pull_back,
    random_deformation,
    smooth_upsample,
    tissue_fractions,
    warp_anatomy,
)


def test_templates_load_offline_with_consistent_fractions() -> None:
    anatomy = load_templates(Size.MM2)
    assert anatomy.shape == (99, 117, 95) and anatomy.spacing == 2.0
    total = anatomy.gm + anatomy.wm + anatomy.csf
    np.testing.assert_allclose(total, anatomy.brain, atol=1e-5)
    assert anatomy.csf[anatomy.brain > 0.5].mean() > 0.05  # ventricles and sulci exist


def test_tissue_fractions_rescale_overlapping_maps() -> None:
    gm = np.array([[[0.8, 0.2, 0.5]]], np.float32)
    wm = np.array([[[0.6, 0.3, 0.5]]], np.float32)
    brain = np.array([[[1.0, 1.0, 0.0]]], np.float32)
    out = tissue_fractions(gm, wm, brain, np.eye(4))
    np.testing.assert_allclose(out.gm + out.wm + out.csf, brain, atol=1e-6)
    np.testing.assert_allclose(out.gm[0, 0, 0] / out.wm[0, 0, 0], 0.8 / 0.6, rtol=1e-5)
    assert out.csf[0, 0, 1] == pytest.approx(0.5)


def test_smooth_upsample_reproduces_linear_functions() -> None:
    coarse = np.fromfunction(lambda i, j, k: 2 * i - j + 0.5 * k, (5, 6, 4))
    fine = smooth_upsample(coarse, (9, 11, 7))
    expected = np.fromfunction(
        lambda x, y, z: 2 * x * 4 / 8 - y * 5 / 10 + 0.5 * z * 3 / 6, (9, 11, 7)
    )
    np.testing.assert_allclose(fine, expected, atol=1e-4)


def test_deformation_keeps_a_plausible_brain() -> None:
    template = load_templates(Size.MM2)
    rng = np.random.default_rng(0)
    deformation = random_deformation(template, rng)
    warped = warp_anatomy(template, pull_back(deformation, output_grid(template.shape)))
    volume = float((warped.brain > 0.5).sum()) / float((template.brain > 0.5).sum())
    assert 0.7 < volume < 1.35
    assert not np.allclose(warped.gm, template.gm)
    # left-right asymmetry and rotation make the warp differ between seeds
    other = random_deformation(template, np.random.default_rng(1))
    assert not np.allclose(other.displacement, deformation.displacement)
