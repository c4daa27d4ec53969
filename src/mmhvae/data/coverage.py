"""Images that do not cover the brain the other images of their case show.

A BraTS 2013 FLAIR acquired on a slab (a partial field of view), or two contrasts that were
skull-stripped or registered differently, leave voxels that are brain in one image and 0 in
another. The brain mask is the union of the images (data/preprocess.py), so every method
reads those zeros as the darkest tissue of that contrast, and scoring reads them as its
truth. Nothing is changed here: the case keeps its data; :func:`coverage_warnings` says which
images these are, so that a user can mask, crop or leave them out. In ../shared, images
cover all but 0-6% of the others' brain; the slab FLAIR misses 34%, the worst pair 40%.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmhvae.data.background import background_problem

# More of the others' brain than this at zero: the image does not cover the brain.
COVERAGE_GAP = 0.10


def coverage_gaps(images: Mapping[str, np.ndarray]) -> dict[str, float]:
    """name -> the share of the voxels > 0 in any OTHER image where this one is <= 0.

    Only images on a zero background take part (for the others "> 0" is not the brain:
    data/background.py), and only when there are at least two; all arrays share one grid."""
    usable = {m: v > 0 for m, v in images.items() if background_problem(v) is None}
    gaps: dict[str, float] = {}
    for name, inside in usable.items():
        others = [mask for other, mask in usable.items() if other != name]
        if not others:
            continue
        brain = np.logical_or.reduce(others)
        count = int(brain.sum())
        if count:
            gaps[name] = float((brain & ~inside).sum()) / count
    return gaps


def coverage_warnings(
    case_id: str, images: Mapping[str, np.ndarray], paths: Mapping[str, str | Path]
) -> list[str]:
    """One message per image whose gap exceeds :data:`COVERAGE_GAP`, naming its file."""
    return [
        f"{case_id}: {paths.get(name, name)} is 0 on {gap:.0%} of the brain the other images "
        f"show (a partial field of view, or images skull-stripped or registered differently): "
        f"those voxels are read as the darkest {name}"
        for name, gap in coverage_gaps(images).items()
        if gap > COVERAGE_GAP
    ]
