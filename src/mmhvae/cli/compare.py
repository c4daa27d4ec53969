"""``mmhvae compare``: train several methods alike and score them in one table."""

from __future__ import annotations

import argparse

from mmhvae.cli.options import add_device, add_overrides, add_overwrite, add_seed, add_split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mmhvae.methods import METHODS

    parser.description = (
        "Train every method with the same data, config, seed and budget, evaluate them with "
        "the protocol of EVALUATION.md, and write OUT/comparison.{md,json,csv} (plus the run "
        "folders OUT/runs/METHOD and the full report OUT/evaluation)."
    )
    parser.epilog = (
        f"methods: {', '.join(METHODS)}\n"
        "k-fold by patient on the real data: benchmarks/compare_real.sh (per-fold manifests)"
    )
    parser.add_argument("--train", required=True, metavar="DATA", help="training dataset or CSV")
    parser.add_argument("--test", required=True, metavar="DATA", help="test dataset or CSV")
    add_split(
        parser,
        "of --test; default: imagesTs when there is one, else imagesTr (--train always reads "
        "imagesTr)",
    )
    parser.add_argument("--methods", required=True, help="comma-separated, e.g. mmhvae,mvae,unet")
    parser.add_argument("--out", required=True, metavar="DIR", help="comparison folder")
    parser.add_argument(
        "--budget-minutes", type=float, default=0.0, help="training minutes per method (0: none)"
    )
    parser.add_argument("--steps", type=int, help="training steps per method (default: config)")
    parser.add_argument("--config", default="tiny", help="named config or YAML")
    add_overrides(parser, "config override shared by every method (repeatable)")
    add_seed(parser, "training seed of every method")
    add_device(parser)
    parser.add_argument(
        "--temperature", type=float, default=None, help="default: each run's, usually 0.7"
    )
    parser.add_argument("--samples", type=int, default=None, help="default: each run's, 1")
    parser.add_argument(
        "--scenarios", choices=("all", "single-missing", "single-input"), default="all"
    )
    parser.add_argument("--no-lpips", action="store_true", help="do not compute LPIPS")
    parser.add_argument("--no-montages", action="store_true", help="skip the PNG montages")
    parser.add_argument(
        "--reuse", action="store_true", help="keep method runs in OUT/runs that hold a checkpoint"
    )
    add_overwrite(parser, "runs and tables in OUT")


def run(args: argparse.Namespace) -> int:
    from mmhvae.evaluation.evaluate import EvaluationOptions
    from mmhvae.experiments.compare import CompareOptions, compare, parse_methods

    options = CompareOptions(
        methods=parse_methods(args.methods),
        config=args.config,
        overrides=tuple(args.overrides),
        budget_minutes=args.budget_minutes,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        reuse=args.reuse,
        overwrite=args.overwrite,
        evaluation=EvaluationOptions(
            scenarios=args.scenarios,
            temperature=args.temperature,
            samples=args.samples,
            seed=args.seed,
            device=args.device,
            lpips=not args.no_lpips,
            montages=not args.no_montages,
            split=args.split,
        ),
    )
    result = compare(args.train, args.test, args.out, options)
    for row in result.table:
        if row["level"] == "overall" and row["metric"] == "psnr":
            print(f"{row['method']}: PSNR {row['mean']:.2f} ± {row['std']:.2f} dB")
    print(f"table: {result.paths['md']}")
    return 0
