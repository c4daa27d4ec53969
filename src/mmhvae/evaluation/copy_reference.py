"""The ``copy`` reference: predict a target by the input modality that resembles it most.

"Resembles most" is measured once, on training data: the Pearson correlation between two
normalised modalities over the brain voxels of a case, averaged over the cases that have
both. At evaluation the prediction of target t from inputs S is the normalised volume of
argmax_{s in S} r(s, t). It is the floor a synthesis model has to beat: scored beside the
models in the same table, it shows what a model adds to copying an input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# One case for the table: modality -> normalised volume (present modalities only), brain mask.
CaseVolumes = tuple[Mapping[str, np.ndarray], np.ndarray]


def pearson_in_mask(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """r = cov(a, b) / (sd(a) sd(b)) over the voxels of ``mask``; nan if either is constant."""
    x = np.asarray(a, dtype=np.float64)[mask]
    y = np.asarray(b, dtype=np.float64)[mask]
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    if x.size < 2 or denominator == 0:
        return float("nan")
    return float((x * y).sum() / denominator)


@dataclass
class CorrelationTable:
    """r[target][source]: mean Pearson correlation over ``count[target][source]`` cases."""

    r: dict[str, dict[str, float]] = field(default_factory=dict)
    count: dict[str, dict[str, int]] = field(default_factory=dict)
    source: str = ""  # where the table was computed (a data path), for the report

    def best_source(self, target: str, inputs: Sequence[str]) -> str:
        """The input most correlated with ``target``; pairs never seen count as r = -inf,
        ties keep the order of ``inputs``."""
        if not inputs:
            raise ValueError(f"no input to copy {target} from")
        scores = [self.r.get(target, {}).get(s, float("nan")) for s in inputs]
        values = [v if np.isfinite(v) else -np.inf for v in scores]
        return inputs[int(np.argmax(values))]

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "r": self.r, "count": self.count}


def case_correlations(
    volumes: Mapping[str, np.ndarray], mask: np.ndarray
) -> dict[tuple[str, str], float]:
    """Pearson r inside the brain of every pair (a, b), a < b by name, of one case's volumes."""
    names = sorted(volumes)
    mask = np.asarray(mask, dtype=bool)
    return {
        (a, b): pearson_in_mask(volumes[a], volumes[b], mask)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }


def correlation_table(
    per_case: Iterable[Mapping[tuple[str, str], float]], source: str = ""
) -> CorrelationTable:
    """Average per-case correlations (nan values skipped) into a symmetric table."""
    values: dict[tuple[str, str], list[float]] = {}
    for correlations in per_case:
        for pair, r in correlations.items():
            if np.isfinite(r):
                values.setdefault(pair, []).append(float(r))
    table = CorrelationTable(source=source)
    for (a, b), rs in values.items():
        for t, s in ((a, b), (b, a)):
            table.r.setdefault(t, {})[s] = float(np.mean(rs))
            table.count.setdefault(t, {})[s] = len(rs)
    return table


def modality_correlations(cases: Iterable[CaseVolumes], source: str = "") -> CorrelationTable:
    """Table of the mean Pearson correlation inside the brain for every pair of modalities.

    ``cases`` yields (modality -> normalised volume, brain mask); a pair counts in the cases
    that hold both modalities. r is symmetric, so both orders are filled.
    """
    return correlation_table((case_correlations(v, m) for v, m in cases), source)


class PreparedLike(Protocol):
    """What :func:`prepared_volumes` reads of data/preprocess.py's ``Prepared``."""

    modalities: tuple[str, ...]
    images: np.ndarray  # (M, S, H, W) in [0, 1]
    present: np.ndarray  # (M,) bool
    mask: np.ndarray  # (S, H, W) bool


def prepared_volumes(prepared: PreparedLike) -> CaseVolumes:
    """A ``Prepared`` case as :data:`CaseVolumes` (its present modalities only)."""
    volumes = {
        m: prepared.images[i] for i, m in enumerate(prepared.modalities) if prepared.present[i]
    }
    return volumes, np.asarray(prepared.mask, dtype=bool)


def copy_predict(
    table: CorrelationTable,
    normalised: Mapping[str, np.ndarray],
    inputs: Sequence[str],
    target: str,
) -> tuple[np.ndarray, str]:
    """The copy prediction of ``target`` from ``inputs``: (the chosen input's volume, its name)."""
    chosen = table.best_source(target, inputs)
    return np.asarray(normalised[chosen], dtype=np.float32), chosen
