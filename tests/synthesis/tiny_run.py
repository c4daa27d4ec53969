"""One tiny model trained for a few steps on real cases, shared by the synthesis and
evaluation tests: trained once per test session (cached under pytest's base temp folder)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mmhvae.cli.main import main

COMPLETE = ("brats-met-00110", "tcga-fg-6692", "unknown-glioma")
INCOMPLETE = "brats2013-pat0005"  # flair and t1ce only, brain mask given


def write_manifest(shared_data: Path, cases: tuple[str, ...], path: Path) -> Path:
    """A CSV manifest of ``cases`` with absolute paths into the shared data."""
    with (shared_data / "cases.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["case"] in cases]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "modality", "path", "kind"])
        for row in rows:
            writer.writerow([row["case"], row["modality"], shared_data / row["path"], row["kind"]])
    return path


def tiny_run(shared_data: Path, factory: pytest.TempPathFactory) -> Path:
    """RUN folder of `mmhvae train` (the tiny config shrunk further, 4 steps)."""
    base = factory.getbasetemp() / "tiny-model"
    run = base / "run"
    if (run / "checkpoints" / "last.pt").is_file():
        return run
    manifest = write_manifest(shared_data, COMPLETE + (INCOMPLETE,), base / "train.csv")
    code = main(
        [
            "train",
            "--data",
            str(manifest),
            "--config",
            "tiny",
            "--out",
            str(run),
            "--device",
            "cpu",
            "--set",
            "train.steps=4",
            "--set",
            "train.batch_size=2",
            "--set",
            "train.val_slices=2",
            "--set",
            "train.num_workers=0",
            "--set",
            "train.val_every=1000",
            "--set",
            "train.image_every=1000",
            # smaller than tiny: 32x32 slices at 8 mm, few channels (plumbing, not quality)
            "--set",
            "model.image_size=32",
            "--set",
            "data.spacing=8.0",
            "--set",
            "model.channels=[8,8,8,8,8]",
            "--set",
            "model.latent_channels=[2,4,4,4,0]",
            "--set",
            "model.top_latent_dim=16",
            "--set",
            "model.disc_channels=8",
            "--set",
            f"data.cache_dir={base / 'cache'}",
        ]
    )
    assert code == 0
    return run
