"""``mmhvae predict --model RUN --t1ce A.nii.gz --flair B.nii.gz -o OUT``: one patient's
files in, the missing modalities out (argument parsing only: synthesis/api.py)."""

from __future__ import annotations

import argparse

from mmhvae.cli.options import add_device, add_overwrite, add_sampling
from mmhvae.data.modalities import parse_modalities

INPUTS = ("t1", "t1ce", "t2", "flair", "us")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="run folder or checkpoint file")
    for modality in INPUTS:
        parser.add_argument(f"--{modality}", metavar="FILE", help=f"the patient's {modality} NIfTI")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--targets", help="comma-separated modalities to synthesise (default: all absent)"
    )
    add_sampling(parser)
    add_device(parser)
    add_overwrite(parser, "earlier outputs in --output")


def run(args: argparse.Namespace) -> int:
    from mmhvae.errors import DataError
    from mmhvae.synthesis.api import predict_files

    inputs = {m: getattr(args, m) for m in INPUTS if getattr(args, m)}
    if not inputs:
        raise DataError(f"give at least one input file ({', '.join('--' + m for m in INPUTS)})")
    written = predict_files(
        args.model,
        inputs,
        args.output,
        targets=parse_modalities(args.targets) if args.targets else None,
        samples=args.samples,
        temperature=args.temperature,
        seed=args.seed,
        device=args.device,
        overwrite=args.overwrite,
    )
    for path in written:
        print(f"wrote {path}")
    return 0
