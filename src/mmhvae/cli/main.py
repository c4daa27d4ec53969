"""The ``mmhvae`` console script: one subcommand per module of this package.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. The registry
below is explicit and imports modules lazily, so ``mmhvae --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mmhvae import __version__
from mmhvae.errors import MMHVAEError

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("mmhvae.cli.info", "list the cases and modalities of a dataset, and its problems"),
    "phantom": ("mmhvae.cli.phantom", "write a synthetic multi-modal brain dataset"),
    "train": ("mmhvae.cli.train", "train a model (MMHVAE or a baseline) on a dataset"),
    "synthesize": ("mmhvae.cli.synthesize", "synthesise the missing modalities of cases as NIfTI"),
    "predict": ("mmhvae.cli.predict", "synthesise one patient's missing modalities from files"),
    "evaluate": ("mmhvae.cli.evaluate", "score models with the evaluation protocol"),
    "export": ("mmhvae.cli.export", "write a trained run as one small file for synthesis"),
    "setup-lpips": ("mmhvae.cli.setup_lpips", "fetch and convert the LPIPS AlexNet weights"),
    "demo": ("mmhvae.cli.demo", "phantom -> train -> synthesize -> evaluate -> report"),
    "benchmark": ("mmhvae.cli.benchmark", "time synthesis and training steps"),
    "compare": ("mmhvae.cli.compare", "train several methods alike and compare them"),
}


EXAMPLES: dict[str, str] = {
    "info": "mmhvae info ../shared/data/cases.csv --check-voxels",
    "phantom": "mmhvae phantom phantom/ --cases 8 --size 2mm --montage phantom.png",
    "train": "mmhvae train --data ../shared/data/cases.csv --config tiny --out runs/r1",
    "synthesize": "mmhvae synthesize --model runs/r1 --input DATA --output out/ --samples 8",
    "predict": "mmhvae predict --model runs/r1 --t1ce A.nii.gz --flair B.nii.gz -o out/",
    "evaluate": "mmhvae evaluate --model runs/r1 --data TEST_DATA --out report/",
    "export": "mmhvae export --model runs/r1 -o my-model.pt",
    "setup-lpips": "mmhvae setup-lpips",
    "demo": "mmhvae demo --out demo-out --minutes 4",
    "benchmark": "mmhvae benchmark --config default --device cuda",
    "compare": "mmhvae compare --train TRAIN --test TEST --methods mmhvae,unet,regression "
    "--budget-minutes 10 --out cmp/",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Epilogs as written, and every option's default, except where there is none to show
    (None means "decided at run time", e.g. from the run's config; False is a plain flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        if action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmhvae",
        description="Unified cross-modal medical image synthesis (MMHVAE).",
    )
    parser.add_argument("--version", action="version", version=f"mmhvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        module.add_arguments(command)
        example = f"example:\n  {EXAMPLES[name]}"
        command.epilog = f"{command.epilog}\n\n{example}" if command.epilog else example
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except MMHVAEError as error:
        print(f"mmhvae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmhvae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
