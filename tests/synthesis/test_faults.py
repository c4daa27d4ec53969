"""kill -9 in the middle of writing an output, then the same command again: every output
written, and no temporary file left anywhere in the output folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from mmhvae.files import is_temp_name

# the CLI, with nibabel's save slowed down AFTER it wrote the temporary file: the kill then
# lands while a finished temporary file waits to be renamed (the worst moment)
SLOW_SAVE = """
import sys, time, nibabel
from mmhvae.cli.main import main
save = nibabel.save
def slow(image, name):
    save(image, name)
    time.sleep(60)
nibabel.save = slow
sys.exit(main(sys.argv[1:]))
"""


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_temp_name(p.name)]


def test_kill_during_synthesis_then_rerun_leaves_no_temp_files(
    tiny_model: Path, two_cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = ["synthesize", "--model", str(tiny_model), "--input", str(two_cases)]
    argv += ["--output", str(out), "--leave-out", "t2", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, *argv], env=env)
    try:
        deadline = time.monotonic() + 300
        while not (out.is_dir() and _temp_files(out)):
            assert process.poll() is None, "synthesis ended before writing anything"
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert _temp_files(out)  # what a killed run leaves behind
    time.sleep(2.1)  # older than the sweep's minimum age (a live writer's file is younger)
    done = subprocess.run([sys.executable, "-m", "mmhvae.cli.main", *argv], env=env, check=False)
    assert done.returncode == 0
    assert _temp_files(out) == []
    written = sorted(p.name for p in out.rglob("*.nii.gz"))
    assert written and all("_synth" in name for name in written)
    for path in out.rglob("*.nii.gz"):
        assert np.isfinite(np.asarray(nib.load(path).dataobj)).all()
