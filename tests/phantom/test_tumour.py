"""Tumour labels and mass effect."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mmhvae.phantom.generate import PhantomCase
from mmhvae.phantom.tumour import mass_effect


def test_labels_are_brats_and_nested(complete_cases: list[PhantomCase]) -> None:
    for case in complete_cases:
        labels = set(np.unique(case.seg).tolist())
        assert labels <= {0, 1, 2, 4} and {2, 4} <= labels, case.case_id
        tumour = case.seg > 0
        # one lesion, inside the brain
        assert ndimage.label(tumour)[1] == 1
        brain = case.fractions["gm"] + case.fractions["wm"] + case.fractions["csf"]
        assert (brain[tumour] + 1e-6 >= 0).all()
        # the necrotic core is enclosed: none of it touches the oedema-free outside
        core = case.seg == 1
        if core.any():
            ring = ndimage.binary_dilation(core) & ~core
            assert not np.any(case.seg[ring] == 0), case.case_id
        # the lesion mostly sits in white matter of the healthy template
        assert tumour.sum() > 50


def test_mass_effect_pushes_outwards_without_folding() -> None:
    centre = np.array([20.0, 20.0, 20.0])
    r = np.linspace(0.0, 30.0, 200, dtype=np.float32)
    points = np.zeros((3, 200, 1, 1), np.float32)
    points[0, :, 0, 0] = 20.0 + r
    points[1:] = 20.0
    source = mass_effect(points, centre, push=0.6, scale=5.0)[0, :, 0, 0] - 20.0
    assert np.all(np.diff(source) > 0)  # monotone: no folding
    assert np.all(source <= r + 1e-5)  # samples closer to the centre: tissue moved outwards
    assert abs(source[-1] - r[-1]) < 1e-3  # far away: untouched
    np.testing.assert_allclose(source[:5], r[:5] * 0.4, rtol=0.02)  # centre: r (1 - k)
