"""End-to-end CPU synthesis benchmark (BENCHMARKING.md, CPU): one 240x240x155 case, one
input (t1 of the real tcga-fg-6692), three outputs (t1ce, t2, flair), the `default` model
with random weights (speed does not depend on training), NIfTI in and out.

    python benchmarks/bench_synthesis.py [--shared ../shared] [--work /tmp/bench-synth]
        [--repeats 3] [--batch-size 8] [--config default]

Writes an untrained checkpoint and a one-row manifest to --work, then times whole
`mmhvae synthesize` processes with /usr/bin/time -v and prints the wall time of each run,
the median, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from mmhvae.config import config_to_dict, load_config
from mmhvae.methods import build_method
from mmhvae.runs import CHECKPOINT_FORMAT, save_checkpoint

CASE = "tcga-fg-6692"
MODALITIES = ("t1", "t1ce", "t2", "flair")


def write_inputs(shared: Path, work: Path, config_name: str) -> tuple[Path, Path]:
    config = load_config(config_name)
    torch.manual_seed(0)
    method = build_method(config, MODALITIES)
    run = work / f"run-{config_name}"
    state = {
        "format": CHECKPOINT_FORMAT,
        "method": config.method,
        "modalities": list(MODALITIES),
        "config": config_to_dict(config),
        "step": 0,
        "method_state": method.state_dict(),
    }
    save_checkpoint(run / "checkpoints" / "last.pt", state)
    with (shared / "data" / "cases.csv").open(newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["case"] == CASE and r["modality"] == "t1"]
    manifest = work / "case.csv"
    manifest.write_text(
        f"case,modality,path,kind\n{CASE},t1,{shared / 'data' / row['path']},image\n"
    )
    return run, manifest


def _console_script() -> str:
    """The `mmhvae` script of this interpreter's environment (also when not activated)."""
    beside = Path(sys.executable).parent / "mmhvae"
    return str(beside) if beside.is_file() else (shutil.which("mmhvae") or "mmhvae")


def time_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process, from /usr/bin/time -v."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}):\n{result.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    assert wall and rss, result.stderr
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    return hours * 3600 + minutes * 60 + seconds, int(rss.group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-synth"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--config", default="default")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run, manifest = write_inputs(args.shared, args.work, args.config)
    out = args.work / "out"
    command = [
        _console_script(),
        "synthesize",
        "--model",
        str(run),
        "--input",
        str(manifest),
        "--output",
        str(out),
        "--device",
        "cpu",
        "--overwrite",
        "--batch-size",
        str(args.batch_size),
    ]
    print("command:", " ".join(command))
    walls, peaks = [], []
    for index in range(args.repeats):
        wall, peak = time_once(command)
        walls.append(wall)
        peaks.append(peak)
        print(f"run {index + 1}: {wall:.1f} s wall, {peak:.0f} MiB peak RSS")
    written = sorted(p.name for p in out.iterdir())
    print(f"outputs: {', '.join(written)}")
    print(
        f"median {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}), "
        f"peak RSS {max(peaks):.0f} MiB, torch threads {torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main()
