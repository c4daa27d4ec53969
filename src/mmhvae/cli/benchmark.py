"""``mmhvae benchmark``: synthesis and training-step speed as ../shared/BENCHMARKING.md says."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="named config or YAML (default)")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available"
    )
    parser.add_argument(
        "--what", default="synthesis,train", help="comma-separated: synthesis, train"
    )
    parser.add_argument("--slices", type=int, default=160, help="slices in one volume")
    parser.add_argument("--batch", type=int, default=16, help="training batch (slices)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on the GPU")


def run(args: argparse.Namespace) -> int:
    from mmhvae.errors import ConfigError
    from mmhvae.experiments.benchmark import run_benchmark

    what = tuple(w.strip() for w in args.what.split(",") if w.strip())
    unknown = sorted(set(what) - {"synthesis", "train"})
    if unknown or not what:
        raise ConfigError(f"--what {args.what!r}: choose from synthesis, train")
    report = run_benchmark(
        args.config,
        args.device,
        slices=args.slices,
        batch=args.batch,
        warmup=args.warmup,
        repeats=args.repeats,
        what=what,
        bf16=not args.fp32,
    )
    print(report.markdown())
    return 0
