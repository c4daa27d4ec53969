"""``mmhvae predict --model RUN --t1ce A.nii.gz --flair B.nii.gz -o OUT``: one patient's
files in, the missing modalities out (argument parsing only: synthesis/predict.py)."""

from __future__ import annotations

import argparse

from mmhvae.cli.options import add_device, add_format, add_model, add_overwrite, add_sampling
from mmhvae.data.modalities import parse_modalities

INPUTS = ("t1", "t1ce", "t2", "flair", "us")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model(parser)
    for modality in INPUTS:
        parser.add_argument(f"--{modality}", metavar="FILE", help=f"the patient's {modality} NIfTI")
    parser.add_argument(
        "--input",
        metavar="FOLDER",
        help="instead of the files one by one: a flat folder of ONE patient's files, the "
        "modality read from each name (t1.nii.gz, patient7_flair.nii.gz, "
        "BraTS-GLI-00001-000-t1c.nii.gz; a *mask* file is the brain mask)",
    )
    parser.add_argument(
        "--mask", metavar="FILE", help="the patient's brain mask (default: voxels > 0)"
    )
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--targets", help="comma-separated modalities to synthesise (default: all absent)"
    )
    add_format(parser)
    parser.add_argument(
        "--case-id",
        help="names the files of --format brasyn / nnunet (default: the inputs' common "
        "name before the modality, e.g. BraTS-GLI-00001-000)",
    )
    add_sampling(parser)
    add_device(parser)
    add_overwrite(parser, "earlier outputs in --output")


def run(args: argparse.Namespace) -> int:
    from mmhvae.data.patient import read_patient_folder
    from mmhvae.errors import DataError
    from mmhvae.synthesis.predict import predict_files

    inputs = {m: getattr(args, m) for m in INPUTS if getattr(args, m)}
    mask, case_id = args.mask, args.case_id
    if args.input and inputs:
        raise DataError("give --input FOLDER or the files one by one (--t1ce FILE ...), not both")
    if args.input:
        patient = read_patient_folder(args.input)
        inputs = dict(patient.images)
        mask = mask or patient.mask  # --mask wins over a mask file in the folder
        case_id = case_id or patient.case_id
    if not inputs:
        flags = ", ".join("--" + m for m in INPUTS)
        raise DataError(f"give at least one input file ({flags}) or --input FOLDER")
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
        mask=mask,
        format=args.format,
        dataset_json=args.dataset_json,
        case_id=case_id,
    )
    for path in written:
        print(f"wrote {path}")
    return 0
