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
    "evaluate": ("mmhvae.cli.evaluate", "score models with the evaluation protocol"),
    "setup-lpips": ("mmhvae.cli.setup_lpips", "fetch and convert the LPIPS AlexNet weights"),
    "demo": ("mmhvae.cli.demo", "phantom -> train -> synthesize -> evaluate -> report"),
    "benchmark": ("mmhvae.cli.benchmark", "time synthesis and training steps"),
    "compare": ("mmhvae.cli.compare", "train several methods alike and compare them"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmhvae",
        description="Unified cross-modal medical image synthesis (MMHVAE).",
    )
    parser.add_argument("--version", action="version", version=f"mmhvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
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
