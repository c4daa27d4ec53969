"""``mmhvae export --model RUN -o model.pt``: a trained run as one small file for synthesis
(argument parsing only: runs.export_checkpoint)."""

from __future__ import annotations

import argparse

from mmhvae.cli.options import add_model, add_overwrite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write a run's checkpoint for synthesis only: the weights in float16 (half the size; "
        "synthesis casts them back), the config, the modalities and what the run learnt from, "
        "without optimiser, discriminator or training state. Load it like a run: "
        "--model model.pt."
    )
    add_model(parser)
    parser.add_argument("-o", "--output", required=True, help="the file to write (.pt)")
    parser.add_argument(
        "--float32", action="store_true", help="keep the weights in float32 (twice the size)"
    )
    add_overwrite(parser, "an existing output file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from mmhvae.errors import DataError, OutputExistsError
    from mmhvae.runs import export_checkpoint, resolve_checkpoint

    target = Path(args.output)
    if target.suffix != ".pt":
        raise DataError(f"{target}: the exported file must end in .pt")
    if target.exists() and not args.overwrite:
        raise OutputExistsError(f"{target}: exists (use --overwrite to replace it)")
    if target.resolve() == resolve_checkpoint(args.model).resolve():
        raise DataError(f"{target}: is the checkpoint being exported; choose another file")
    export_checkpoint(args.model, target, torch.float32 if args.float32 else torch.float16)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0
