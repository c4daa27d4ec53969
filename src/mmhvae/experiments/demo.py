"""The main job on the embedded default, from one command (``mmhvae demo``).

phantom (train + held-out cases, modalities missing at random) -> train the ``tiny`` model
for a wall-clock budget, and the per-voxel ``regression`` (the floor every learned method must
clear; a closed form, seconds) -> synthesise the held-out cases' missing modalities as NIfTI ->
evaluate every scenario with EVALUATION.md, the model beside the regression and the ``copy``
reference -> HTML report.
Everything is made locally: no download, no data of the user's needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from mmhvae import output_folder
from mmhvae.config import load_config

# Train and test phantoms come from different seeds: the test cases are unseen patients.
TEST_SEED_OFFSET = 1000
# MR contrasts only: the phantom's iUS covers a fan at a random probe position, which no
# other modality reveals, so synthesising it is ill-posed and would dominate the scores.
# `mmhvae phantom --modalities t1,t1ce,t2,flair,us` makes iUS datasets for other experiments.
DEMO_MODALITIES = ("t1", "t1ce", "t2", "flair")
# The demo's own files at its top level; its sub-folders are each stage's (with their rules).
DEMO_FILES = ("phantom.png",)


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("demo-out")
    device: str | None = None  # None: cuda when available
    train_cases: int = 20
    test_cases: int = 4
    missing_rate: float = 0.3
    minutes: float | None = None  # training budget; None: 4 on CPU, 10 on GPU
    seed: int = 0
    overwrite: bool = False
    progress: bool = True
    overrides: tuple[str, ...] = ()  # extra `key=value` settings of the training config


@dataclass
class DemoResult:
    out: Path
    run_dir: Path
    regression_dir: Path
    synthesis_dir: Path
    report_dir: Path
    overall: list[dict[str, object]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(options: DemoOptions) -> DemoResult:
    """Run the whole pipeline into ``options.out`` and return where everything is."""
    from mmhvae.evaluation.evaluate import EvaluationOptions, evaluate
    from mmhvae.phantom.generate import make_phantom_dataset
    from mmhvae.phantom.montage import phantom_montage
    from mmhvae.synthesis.dataset import synthesize_dataset
    from mmhvae.training.trainer import fit

    out = Path(options.out)
    _claim_output(out, options.overwrite)
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.startswith("cuda")
    minutes = options.minutes if options.minutes is not None else (10.0 if on_gpu else 4.0)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    train_data = make_phantom_dataset(
        out / "data" / "train",
        options.train_cases,
        modalities=DEMO_MODALITIES,
        missing_rate=options.missing_rate,
        seed=options.seed,
        overwrite=options.overwrite,
        progress=options.progress,
    )
    test_data = make_phantom_dataset(
        out / "data" / "test",
        options.test_cases,
        modalities=DEMO_MODALITIES,
        missing_rate=options.missing_rate,
        seed=options.seed + TEST_SEED_OFFSET,
        overwrite=options.overwrite,
        progress=options.progress,
    )
    phantom_montage(train_data.parent / "Phantom_00000", out / "phantom.png")
    timings["phantom"] = time.perf_counter() - clock

    overrides = [
        f"train.time_budget_minutes={minutes}",
        "train.steps=1000000",  # the wall-clock budget ends training
        f"train.seed={options.seed}",
        "data.val_cases=2",
    ]
    if on_gpu:
        overrides += ["train.batch_size=32", "train.num_workers=4"]
    config = load_config("tiny", overrides + list(options.overrides))
    clock = time.perf_counter()
    run_dir = out / "run"
    fit(config, train_data, run_dir, device=device, overwrite=options.overwrite)
    timings["train"] = time.perf_counter() - clock

    clock = time.perf_counter()
    regression_dir = out / "regression"
    floor = replace(config, method="regression")  # the same data and geometry
    fit(floor, train_data, regression_dir, device=device, overwrite=options.overwrite)
    timings["regression"] = time.perf_counter() - clock

    clock = time.perf_counter()
    synthesis_dir = out / "synthesis"
    synthesize_dataset(
        run_dir,
        test_data,
        synthesis_dir,
        device=device,
        seed=options.seed,
        overwrite=options.overwrite,
        progress=False,
    )
    timings["synthesize"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report_dir = out / "report"
    result = evaluate(
        [run_dir, regression_dir],
        test_data,
        report_dir,
        EvaluationOptions(
            seed=options.seed,
            device=device,
            copy_from=str(train_data),
            progress=options.progress,
            overwrite=options.overwrite,
        ),
    )
    timings["evaluate"] = time.perf_counter() - clock
    return DemoResult(
        out=out,
        run_dir=run_dir,
        regression_dir=regression_dir,
        synthesis_dir=synthesis_dir,
        report_dir=report_dir,
        overall=result.summaries["overall"],
        timings=timings,
    )


def _claim_output(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite``, and any folder the demo did not make
    (no marker) even then; each stage then replaces only its own files (``overwrite``)."""
    output_folder.claim(out, "demo", DEMO_FILES, overwrite, unmarked=())
