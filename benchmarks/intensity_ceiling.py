"""How much of a synthesis error is one patient's global intensity: the per-voxel quadratic
regression on the real folds, with the training images as they are or with the 8-bit ones
standardised (data/standardise.py), and two oracles no method can use.

Usage: python benchmarks/intensity_ceiling.py FOLDS_DIR [--folds 5]

FOLDS_DIR holds foldF/train.csv and foldF/test.csv of ``make_folds.py`` (drop rate 0.2,
seed 0, as ``compare_real.sh`` makes them). Every case is prepared as ``tiny`` prepares it
(2 mm in-plane, 96 x 96, EVALUATION.md's percentile normalisation); scores are computed in
that space over the brain (a quick proxy of EVALUATION.md, which scores on the original
grid: expect a few tenths of a dB of difference), PSNR per (inputs, target), each case's
mean over its scenarios, then the mean over the test cases of all folds. Columns:

* ``regression``: least squares of [1, x_i, x_i x_k] of the inputs on every third brain voxel
  of the training cases that have the inputs and the target (methods/regression.py's model);
* ``oracle affine``: the same prediction after the least-squares a * y + b against the truth
  of that volume (the best one global contrast and brightness can do);
* ``oracle shift``: after adding the truth's mean minus the prediction's (brightness only);
* ``predicted shift``: the regression plus a shift predicted from the inputs' own volume
  statistics (per input: its mean, median and 90th percentile in the brain, and a constant),
  a ridge fit (lambda 0.01) of the oracle shift over the training cases of that scenario: the
  part of the oracle a method could learn from whole input volumes;
* ``self-normalised``: the regression volume put through EVALUATION.md's normalisation of its
  own (clip to its 0.5 and 99.5 percentiles in the brain, scale to [0, 1]), as if the
  protocol normalised predictions like the truth.

The gap between ``regression`` and the oracles is what knowing the patient's own global
intensity would be worth: a slice model sees none of it.
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from pathlib import Path

import numpy as np
import torch

from mmhvae.data.dataset import load_prepared_dataset
from mmhvae.data.preprocess import Prepared
from mmhvae.data.standardise import standardise_cases
from mmhvae.methods.regression import features as regression_features

MODALITIES = ("t1", "t1ce", "t2", "flair")


def features(x: np.ndarray) -> np.ndarray:
    """x (V, n) -> the regression's own features phi_S (V, F_S) (methods/regression.py)."""
    return regression_features(torch.from_numpy(x)).numpy()


def psnr(prediction: np.ndarray, truth: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((prediction - truth) ** 2)))


def volume_features(case: Prepared, subset: tuple[int, ...]) -> np.ndarray:
    """[1, then per input: mean, median, 90th percentile in the brain] (1 + 3 |S|,)."""
    out = [1.0]
    for s in subset:
        values = case.images[s][case.mask]
        out += [float(values.mean()), *np.percentile(values, [50, 90])]
    return np.asarray(out)


def shift_model(
    cases: list[Prepared], subset: tuple[int, ...], t: int, w: np.ndarray
) -> np.ndarray:
    """Ridge coefficients (lambda 0.01) of truth mean - prediction mean on volume_features,
    over the training ``cases`` (the regression ``w`` fitted on them)."""
    rows, shifts = [], []
    for c in cases:
        x = np.stack([c.images[s][c.mask] for s in subset], 1)
        prediction = np.clip(features(x) @ w, 0, 1)
        rows.append(volume_features(c, subset))
        shifts.append(c.images[t][c.mask].mean() - prediction.mean())
    a, r = np.asarray(rows), np.asarray(shifts)
    return np.linalg.solve(a.T @ a + 0.01 * np.eye(a.shape[1]), a.T @ r)


def self_normalised(prediction: np.ndarray) -> np.ndarray:
    """EVALUATION.md's normalisation applied to a prediction's brain voxels (V,)."""
    low, high = np.percentile(prediction, [0.5, 99.5])
    return np.clip((prediction - low) / max(high - low, 1e-6), 0, 1)


def fit(cases: list[Prepared]) -> dict[tuple[tuple[int, ...], int], tuple[np.ndarray, np.ndarray]]:
    """(inputs S, target t) -> (least-squares coefficients, shift model) over the cases that
    have S and t."""
    coef = {}
    m = len(MODALITIES)
    for size in range(1, m + 1):
        for subset in itertools.combinations(range(m), size):
            for t in set(range(m)) - set(subset):
                have = [c for c in cases if c.present[list(subset)].all() and c.present[t]]
                if not have:
                    continue
                x = np.concatenate(
                    [np.stack([c.images[s][c.mask] for s in subset], 1)[::3] for c in have]
                )
                y = np.concatenate([c.images[t][c.mask][::3] for c in have])
                w = np.linalg.lstsq(features(x), y, rcond=None)[0]
                coef[subset, t] = (w, shift_model(have, subset, t, w))
    return coef


def score(case: Prepared, coef: dict) -> np.ndarray:
    """The case's mean over its scenarios of (regression, oracle affine, oracle shift,
    predicted shift, self-normalised)."""
    rows = []
    for (subset, t), (w, a) in coef.items():
        if not (case.present[list(subset)].all() and case.present[t]):
            continue
        x = np.stack([case.images[s][case.mask] for s in subset], 1)
        prediction = np.clip(features(x) @ w, 0, 1)
        truth = case.images[t][case.mask]
        design = np.stack([prediction, np.ones_like(prediction)], 1)
        affine = np.clip(design @ np.linalg.lstsq(design, truth, rcond=None)[0], 0, 1)
        shift = prediction + truth.mean() - prediction.mean()
        predicted = np.clip(prediction + volume_features(case, subset) @ a, 0, 1)
        rows.append(
            [
                psnr(prediction, truth),
                psnr(affine, truth),
                psnr(shift, truth),
                psnr(predicted, truth),
                psnr(self_normalised(prediction), truth),
            ]
        )
    return np.mean(rows, axis=0)


def load(manifest: Path, cache: Path) -> list[Prepared]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases, _ = load_prepared_dataset(manifest, MODALITIES, 96, 2.0, cache, progress=False)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folds_dir", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    cache = args.folds_dir / "cache"
    table: dict[str, list[np.ndarray]] = {"as they are": [], "8-bit standardised": []}
    for fold in range(args.folds):
        train = load(args.folds_dir / f"fold{fold}" / "train.csv", cache)
        test = load(args.folds_dir / f"fold{fold}" / "test.csv", cache)
        standardised, _ = standardise_cases(train)
        for name, cases in (("as they are", train), ("8-bit standardised", standardised)):
            coef = fit(cases)
            for case in test:
                row = score(case, coef)
                table[name].append(row)
                print(
                    f"fold {fold} {case.case_id:24s} {name:18s} "
                    + " ".join(f"{v:6.2f}" for v in row)
                )
    print(
        "\n| training images | regression | oracle affine | oracle shift | predicted shift "
        "| self-normalised | test cases |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, rows in table.items():
        mean = " | ".join(f"{v:.2f}" for v in np.mean(rows, axis=0))
        print(f"| {name} | {mean} | {len(rows)} |")


if __name__ == "__main__":
    main()
