"""Placeholder until this subcommand lands (replaced by its implementation)."""

from __future__ import annotations

import argparse

from mmhvae.errors import MMHVAEError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*")


def run(args: argparse.Namespace) -> int:
    raise MMHVAEError("not implemented yet")
