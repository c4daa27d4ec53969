"""Arguments that several subcommands share, declared once so they read and behave alike."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``, for ``config.load_config``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    """``--model``: what ``runs.resolve_checkpoint`` takes (a run, a checkpoint, a shipped name)."""
    parser.add_argument(
        "--model", required=True, help="run folder, checkpoint file or shipped model (brats-tiny)"
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device`` with the same choices everywhere; None means cuda when available."""
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available"
    )


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: replace ``what`` (only files the tool wrote itself)."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def add_seed(parser: argparse.ArgumentParser, help_text: str = "random seed") -> None:
    parser.add_argument("--seed", type=int, default=0, help=help_text)


def add_no_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_sampling(parser: argparse.ArgumentParser) -> None:
    """``--temperature``, ``--samples``, ``--seed`` and ``--batch-size`` of synthesis; left
    unset, each comes from the run's config (``sampling`` section: temperature 0.7, one
    sample, seed 0 unless the run says otherwise)."""
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="posterior std factor at every latent group (default: the run's, usually 0.7)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples averaged per output; > 1 also gives a std map (default: the run's, 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the run's, 0)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="axial slices per model call (CPU: 8 at 192x192, more for smaller models; CUDA: 160)",
    )


def add_split(parser: argparse.ArgumentParser, default_help: str | None = None) -> None:
    """``--split tr|ts``: which half of an nnU-Net raw dataset is read (data/layouts.py)."""
    parser.add_argument(
        "--split",
        choices=("tr", "ts"),
        default=None,
        help="nnU-Net raw data: read imagesTr (tr) or imagesTs (ts), never both; "
        + (default_help or "default: imagesTs when there is one, else imagesTr"),
    )


def add_format(parser: argparse.ArgumentParser) -> None:
    """``--format`` and ``--dataset-json`` of ``synthesize`` and ``predict``
    (synthesis/formats.py): the layout the next tool reads."""
    parser.add_argument(
        "--format",
        choices=("cases", "brasyn", "nnunet"),
        default="cases",
        help="cases: named like the inputs plus --suffix; brasyn: the BraSyn challenge's flat "
        "folder of BraTS-GLI-XXXXX-YYY-{t1n,t1c,t2w,t2f}.nii.gz (one missing modality per case); "
        "nnunet: imagesTs/{CASE}_{XXXX} for every channel of --dataset-json (real inputs "
        "copied, missing ones synthesised); their std maps (and predict's) go to OUTPUT/std/",
    )
    parser.add_argument(
        "--dataset-json",
        metavar="PATH",
        help="the nnU-Net v2 dataset.json (channel_names, file_ending) of --format nnunet",
    )
