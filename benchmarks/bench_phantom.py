"""Time ``mmhvae phantom OUT --cases 8 --size 2mm`` (wall time and peak memory of the process).

Run: ``.venv/bin/python benchmarks/bench_phantom.py [--cases 8] [--size 2mm]``; the phantom is
written to a temporary folder that is removed afterwards. Peak memory is the child's maximum
resident set size (``resource.getrusage``), so the measured command runs in its own process.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--size", default="2mm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "mmhvae",
            "phantom",
            str(Path(tmp) / "ph"),
            "--cases",
            str(args.cases),
            "--size",
            args.size,
            "--no-progress",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"mmhvae phantom OUT --cases {args.cases} --size {args.size}: "
        f"wall {wall:.1f} s, peak RSS {peak_mib:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
