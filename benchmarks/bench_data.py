"""Time the data layer on one real 240x240x155 four-modality case (tcga-fg-6692).

Stages: load + grid check (``load_case``), preprocessing (``prepare_case``), writing the
cache entry, and a cache hit. One thread; run it pinned to one core:

    taskset -c 0 .venv/bin/python benchmarks/bench_data.py [--shared ../shared] [--runs 5]

Prints the median, min and max of each stage over the runs (after one warm-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mmhvae.data.case import load_case
from mmhvae.data.dataset import CaseCache
from mmhvae.data.layouts import discover_cases
from mmhvae.data.preprocess import prepare_case

MODALITIES = ("t1", "t1ce", "t2", "flair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = os.environ.get("MMHVAE_SHARED", str(Path(__file__).parents[2] / "shared"))
    parser.add_argument("--shared", default=default_shared)
    parser.add_argument("--case", default="tcga-fg-6692")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=192)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = {c.case_id: c for c in discover_cases(Path(args.shared) / "data" / "cases.csv")}
    case_files = files[args.case]
    times: dict[str, list[float]] = {
        k: [] for k in ("load+check", "prepare", "cache write", "total (miss)", "cache hit")
    }
    for run in range(args.runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            cache = CaseCache(folder)
            key = cache.key(case_files, MODALITIES, args.image_size, 0.0, True)
            start = time.perf_counter()
            case = load_case(case_files, MODALITIES)
            loaded = time.perf_counter()
            prepared = prepare_case(case, MODALITIES, args.image_size)
            done = time.perf_counter()
            cache._write(key, prepared)
            written = time.perf_counter()
            cache.get_or_prepare(case_files, MODALITIES, args.image_size)
            hit = time.perf_counter()
        if run == 0:
            continue  # warm-up
        times["load+check"].append(loaded - start)
        times["prepare"].append(done - loaded)
        times["cache write"].append(written - done)
        times["total (miss)"].append(written - start)
        times["cache hit"].append(hit - written)
    print(
        f"case {args.case}, shape {case.shape}, {len(MODALITIES)} modalities + seg, "
        f"image_size {args.image_size}, torch threads {torch.get_num_threads()}, runs {args.runs}"
    )
    for stage, values in times.items():
        print(
            f"{stage:>13}: median {statistics.median(values):.3f} s "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )


if __name__ == "__main__":
    main()
