"""Grey/white contrast of the phantom against real BraTS cases, measured the same way.

Both sides use :func:`mmhvae.phantom.calibrate.grey_white_ratios`: 3-class k-means on the T1
inside the eroded brain, away from the dilated tumour, then mean(GM) / mean(WM) per contrast.
The real ratios are computed here (cached per session), never hard-coded.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmhvae.phantom.calibrate import grey_white_ratios, t1_classes
from mmhvae.phantom.generate import PhantomCase

MR = ("t1", "t1ce", "t2", "flair")


def test_grey_white_ratios_match_real_data(
    complete_cases: list[PhantomCase], real_ratios: dict[str, float]
) -> None:
    per_case = [grey_white_ratios({m: c.images[m] for m in MR}, c.seg) for c in complete_cases]
    for modality in MR:
        phantom = float(np.mean([r[modality] for r in per_case]))
        assert phantom == pytest.approx(real_ratios[modality], rel=0.25), modality


def test_t1_classes_recover_three_intensity_groups() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(m, 5, 500) for m in (100, 300, 500)])
    gm, wm = t1_classes(values)
    assert gm[500:1000].all() and not gm[:500].any() and not gm[1000:].any()
    assert wm[1000:].all() and not wm[:1000].any()
