"""Wall time of ``mmhvae evaluate`` on one four-contrast case: issue 12's 20 s mark.

    .venv/bin/python benchmarks/bench_evaluate.py [--model brats-tiny] [--runs 2] [--copy]

The case is Brats18_2013_11_1 of ``$MMHVAE_SHARED/data-more`` (T1, T1ce, T2, FLAIR and the
expert labels): all 28 scenarios, one sample, no LPIPS, montages on, ``--no-copy`` unless
``--copy``. The case list is written here, from the files themselves, because a fold's
``train.csv`` may have dropped one of the case's contrasts (``make_folds.py --drop-rate``);
the run is refused unless ``per_case.csv`` holds the 28 rows. Each run is a fresh process
(its start-up and imports counted, as a user's command).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASE = "Brats18_2013_11_1"
FOLDER = Path("data-more/deepbrainseg/sample_volume/brats") / CASE
CONTRASTS = ("t1", "t1ce", "t2", "flair")
SCENARIOS = 28  # every non-empty proper subset of 4 contrasts times each missing target


def write_case_list(shared: Path, out: Path) -> Path:
    """The case's five files (four contrasts and the labels) as a case-list CSV."""
    rows = [(m, "image") for m in CONTRASTS] + [("seg", "seg")]
    path = out / "one_case.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "modality", "path", "kind"])
        for name, kind in rows:
            file = shared / FOLDER / f"{CASE}_{name}.nii.gz"
            if not file.is_file():
                sys.exit(f"bench_evaluate: {file} not found (set MMHVAE_SHARED)")
            writer.writerow([CASE, name, str(file), kind])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="brats-tiny")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--copy", action="store_true", help="keep the copy reference on")
    args = parser.parse_args()
    shared = Path(os.environ.get("MMHVAE_SHARED", "../shared")).resolve()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = write_case_list(shared, Path(tmp))
        for run in range(args.runs):
            out = Path(tmp) / f"run{run}"
            command = [sys.executable, "-m", "mmhvae", "evaluate", "--model", f"m={args.model}"]
            command += ["--data", str(cases), "--out", str(out), "--no-lpips", "--samples", "1"]
            command += ["--no-progress"] + ([] if args.copy else ["--no-copy"])
            start = time.perf_counter()
            if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
                sys.exit(f"bench_evaluate: run {run} failed: {' '.join(command)}")
            times.append(time.perf_counter() - start)
            with (out / "per_case.csv").open() as handle:
                rows = [r for r in csv.DictReader(handle) if r["model"] == "m"]
            if len(rows) != SCENARIOS:
                sys.exit(f"bench_evaluate: {len(rows)} scenarios scored, expected {SCENARIOS}")
    shown = " / ".join(f"{t:.1f}" for t in times)
    print(
        f"evaluate {args.model}, {CASE}, {SCENARIOS} scenarios, "
        f"{'copy on' if args.copy else '--no-copy'}: {shown} s (median "
        f"{statistics.median(times):.1f} s, threads {os.environ.get('OMP_NUM_THREADS', 'all')})"
    )


if __name__ == "__main__":
    main()
