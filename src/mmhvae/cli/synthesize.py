"""``mmhvae synthesize``: the missing modalities of a case or a dataset as NIfTI files.

Outputs are float32 on each case's original grid (shape, affine, orientation, spacing and
header of its input volumes), in the normalised space of EVALUATION.md: the model's [-1, 1]
mapped to [0, 1], 0 outside the brain. With ``--samples N > 1`` a per-voxel standard
deviation map (same units) is written beside the mean, with ``_std`` after the suffix
(``--format brasyn`` and ``nnunet``: in ``OUTPUT/std/``, see synthesis/formats.py).
Every output's header ``descrip`` names mmhvae, the inputs and the model, and a JSON sidecar
(``NAME.json``) records the model, the inputs with checksums and the settings.
"""

from __future__ import annotations

import argparse
import sys

from mmhvae.cli.options import (
    add_device,
    add_format,
    add_model,
    add_no_progress,
    add_overwrite,
    add_sampling,
    add_split,
)
from mmhvae.data.modalities import parse_modalities


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Synthesise every absent modality of the model's list (or --targets) from the present "
        "ones, for one case or every case of a dataset. Writes float32 NIfTI on each case's "
        "original grid and header, named in the case's own scheme plus --suffix; intensities "
        "in [0, 1] (the model's [-1, 1] mapped linearly), 0 outside the brain."
    )
    add_model(parser)
    parser.add_argument(
        "--input", required=True, help="a case folder, a dataset folder or a CSV manifest"
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--targets", help="comma-separated modalities to synthesise (default: all absent)"
    )
    add_format(parser)
    add_sampling(parser)
    add_device(parser)
    parser.add_argument(
        "--suffix", default="_synth", help="added to the file names of synthetic files (cases)"
    )
    parser.add_argument(
        "--leave-out",
        help="comma-separated present modalities to treat as absent and synthesise (a check)",
    )
    add_overwrite(parser, "existing outputs")
    add_no_progress(parser)
    parser.add_argument("--layout", help="force the dataset layout (default: detected)")
    add_split(parser)
    parser.add_argument(
        "--allow-synthetic",
        action="store_true",
        help="take files marked synthetic by mmhvae (sidecar or descrip) as inputs too",
    )


def run(args: argparse.Namespace) -> int:
    from mmhvae.synthesis.dataset import synthesize_dataset

    report = synthesize_dataset(
        args.model,
        args.input,
        args.output,
        targets=parse_modalities(args.targets) if args.targets else None,
        leave_out=parse_modalities(args.leave_out) if args.leave_out else (),
        temperature=args.temperature,
        n_samples=args.samples,
        device=args.device,
        batch_size=args.batch_size,
        suffix=args.suffix,
        overwrite=args.overwrite,
        seed=args.seed,
        layout=args.layout,
        progress=not args.no_progress,
        allow_synthetic=args.allow_synthetic,
        format=args.format,
        dataset_json=args.dataset_json,
        split=args.split,
    )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for case_id, why in report.skipped.items():
        print(f"skipped {case_id}: {why}")
    for case_id, why in report.failed.items():
        print(f"FAILED {case_id}: {why}", file=sys.stderr)
    print(
        f"wrote {len(report.written)} file(s) to {args.output}; "
        f"{len(report.skipped)} case(s) skipped, {len(report.failed)} failed"
    )
    return 1 if report.failed else 0
