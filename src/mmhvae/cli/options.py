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
