"""Per-fold CSV manifests of the real data for ``mmhvae compare`` (k-fold by patient).

Usage: python benchmarks/make_folds.py OUT --folds 5 --fold 0 [--drop-rate 0.2] [--seed 0]
       [--shared ../shared]

Writes OUT/train.csv and OUT/test.csv (absolute paths into the shared data, never copies):

* 25 patients from shared/data and shared/data-more (27 co-registered case ids), duplicates
  merged into one patient each (Brats18_2013_20_1 = brats2013-pat0006, HiNet-trr-06 =
  brats2013-pat0004), so a patient never falls on both sides of a split;
* tcga-fg-6692-native is left out of both sides: it is tcga-fg-6692 again, in native scanner
  space with skull and each contrast on its own grid (not co-registered), which the
  pixel-wise multimodal training and scoring assume;
* patients are assigned to folds by a seeded shuffle;
* the test side holds only full-precision volumes: not the 8-bit HiNet volumes (those stay
  in training); the four two-contrast BraTS 2013 cases keep
  their two contrasts;
* the training side drops each image of a case with probability ``--drop-rate`` (seeded, at
  least one modality kept), so incomplete cases are part of every fold.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

DUPLICATES = {"Brats18_2013_20_1": "brats2013-pat0006", "HiNet-trr-06": "brats2013-pat0004"}
NOT_SCORED_PREFIXES = ("HiNet-",)
LEFT_OUT = {"tcga-fg-6692-native"}
FIELDS = ["case", "modality", "path", "kind"]


def read_rows(shared: Path) -> list[dict[str, str]]:
    rows = []
    for name in ("data", "data-more"):
        with (shared / name / "cases.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["case"] in LEFT_OUT:
                    continue
                rows.append(
                    {**{k: row[k] for k in FIELDS}, "path": str(shared / name / row["path"])}
                )
    return rows


def patient(case: str) -> str:
    return DUPLICATES.get(case, case)


def scored(case: str) -> bool:
    return not case.startswith(NOT_SCORED_PREFIXES)


def split(rows: list[dict[str, str]], folds: int, fold: int, seed: int) -> tuple[list, list]:
    patients = sorted({patient(r["case"]) for r in rows})
    random.Random(seed).shuffle(patients)
    test_patients = set(patients[fold::folds])
    test = [r for r in rows if patient(r["case"]) in test_patients and scored(r["case"])]
    train = [r for r in rows if patient(r["case"]) not in test_patients]
    return train, test


def drop_images(rows: list[dict[str, str]], rate: float, seed: int) -> list[dict[str, str]]:
    """Drop each image row with probability ``rate``; every case keeps one image at least."""
    rng = random.Random(seed + 1)
    by_case: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_case.setdefault(row["case"], []).append(row)
    kept = []
    for case_rows in by_case.values():
        images = [r for r in case_rows if r["kind"] == "image"]
        keep = [r for r in images if rng.random() >= rate] or [rng.choice(images)]
        kept += keep + [r for r in case_rows if r["kind"] != "image"]
    return kept


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--drop-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--all",
        action="store_true",
        help="write OUT/all.csv: every case, no split (a shipped model's training data)",
    )
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    args = parser.parse_args()
    if not 0 <= args.fold < args.folds:
        parser.error(f"--fold {args.fold}: must be in 0..{args.folds - 1}")
    if args.all:
        rows = drop_images(read_rows(args.shared.resolve()), args.drop_rate, args.seed)
        write(args.out / "all.csv", rows)
        print(f"all: {len({r['case'] for r in rows})} cases")
        return
    train, test = split(read_rows(args.shared.resolve()), args.folds, args.fold, args.seed)
    train = drop_images(train, args.drop_rate, args.seed)
    write(args.out / "train.csv", train)
    write(args.out / "test.csv", test)
    for name, rows in (("train", train), ("test", test)):
        cases = sorted({r["case"] for r in rows})
        print(f"{name}: {len(cases)} cases: {', '.join(cases)}")


if __name__ == "__main__":
    main()
