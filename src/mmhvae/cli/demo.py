"""``mmhvae demo``: phantom -> train tiny -> synthesise -> evaluate against copy -> report."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmhvae.cli.options import add_device, add_overrides, add_overwrite, add_seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    add_device(parser)
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="training budget in minutes (default: 4 on CPU, 10 on GPU)",
    )
    parser.add_argument("--train-cases", type=int, default=20, help="phantom training cases")
    parser.add_argument("--test-cases", type=int, default=4, help="held-out phantom cases")
    add_seed(parser)
    add_overwrite(parser, "an earlier demo in --out")
    add_overrides(
        parser, "override a key of the tiny training config (repeatable), e.g. train.beta=0.05"
    )


def run(args: argparse.Namespace) -> int:
    from mmhvae.evaluation.summary import markdown_table
    from mmhvae.experiments.demo import DemoOptions, run_demo

    result = run_demo(
        DemoOptions(
            out=args.out,
            device=args.device,
            minutes=args.minutes,
            train_cases=args.train_cases,
            test_cases=args.test_cases,
            seed=args.seed,
            overwrite=args.overwrite,
            overrides=tuple(args.overrides),
        )
    )
    print()
    print("Overall, mean ± std over the held-out cases (every scenario of EVALUATION.md):")
    print(markdown_table(result.overall, ()))
    print()
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items())
    print(f"time: {timings}")
    print(f"phantom montage:    {result.out / 'phantom.png'}")
    print(f"trained model:      {result.run_dir}")
    print(f"regression floor:   {result.regression_dir}")
    print(f"synthesised NIfTI:  {result.synthesis_dir}")
    print(f"report:             {result.report_dir / 'report.html'}")
    return 0
