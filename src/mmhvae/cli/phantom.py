"""``mmhvae phantom OUT --cases N``: write a synthetic multi-modal brain dataset (BraTS 2021)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmhvae.cli.options import add_no_progress, add_overwrite, add_seed
from mmhvae.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder (refused if not empty)")
    parser.add_argument("--cases", type=int, required=True, help="number of cases")
    parser.add_argument(
        "--modalities",
        default="t1,t1ce,t2,flair,us",
        help="comma-separated modalities among t1,t1ce,t2,flair,us (default: all)",
    )
    parser.add_argument(
        "--missing-rate",
        type=float,
        default=0.3,
        help="probability that each modality of a case is dropped (at least one stays)",
    )
    parser.add_argument("--size", choices=("1mm", "2mm"), default="2mm", help="voxel size")
    add_seed(parser, "random seed: same seed, same data")
    add_overwrite(parser, "an earlier phantom")
    parser.add_argument(
        "--montage", type=Path, default=None, help="also draw the first case to this PNG"
    )
    add_no_progress(parser)


def run(args: argparse.Namespace) -> int:
    from mmhvae.phantom.generate import make_phantom_dataset
    from mmhvae.phantom.montage import phantom_montage

    if args.montage is not None and args.montage.suffix.lower() != ".png":
        raise ConfigError(f"--montage {args.montage}: expected a .png file name")
    manifest = make_phantom_dataset(
        args.out,
        args.cases,
        modalities=args.modalities,
        missing_rate=args.missing_rate,
        size=args.size,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    if args.montage is not None:
        phantom_montage(manifest.parent / "Phantom_00000", args.montage)
    print(f"wrote {args.cases} cases to {args.out} (manifest {manifest})")
    return 0
