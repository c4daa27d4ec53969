"""``mmhvae evaluate``: score models with the evaluation protocol (EVALUATION.md, v1)."""

from __future__ import annotations

import argparse
import sys

from mmhvae.cli.options import add_device, add_no_progress, add_overwrite, add_sampling, add_split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Score models on every (inputs, target) scenario of every case with the protocol of "
        "EVALUATION.md (v1): PSNR, MAE, SSIM in the brain, tumour/healthy regions where a "
        "segmentation exists, LPIPS when its weights are installed. The copy reference "
        "(the input most correlated with the target) is scored in the same table. Writes "
        "per_case.csv, summary.md, summary.json, report.html and montages/ to --out."
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="RUN",
        help="run folder or checkpoint, or NAME=PATH; repeat for several models",
    )
    parser.add_argument("--data", required=True, help="dataset folder, case folder or CSV")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument(
        "--scenarios", choices=("all", "single-missing", "single-input"), default="all"
    )
    add_sampling(parser)
    add_device(parser)
    parser.add_argument("--cases", help="comma-separated case ids (default: every case)")
    parser.add_argument("--no-copy", action="store_true", help="do not score the copy reference")
    parser.add_argument(
        "--copy-from",
        metavar="DATA",
        help="data for the copy reference's correlation table (default: the run's training "
        "data if recorded, else the evaluated data, flagged in the report)",
    )
    parser.add_argument("--no-lpips", action="store_true", help="do not compute LPIPS")
    parser.add_argument("--layout", help="force the dataset layout (default: detected)")
    add_split(parser)
    parser.add_argument("--no-montages", action="store_true", help="skip the PNG montages")
    add_overwrite(parser, "an existing report")
    add_no_progress(parser)


def run(args: argparse.Namespace) -> int:
    from mmhvae.evaluation.evaluate import EvaluationOptions, evaluate

    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip()) if args.cases else None
    options = EvaluationOptions(
        scenarios=args.scenarios,
        temperature=args.temperature,
        samples=args.samples,
        seed=args.seed,
        device=args.device,
        batch_size=args.batch_size,
        cases=cases,
        copy=not args.no_copy,
        copy_from=args.copy_from,
        lpips=not args.no_lpips,
        layout=args.layout,
        split=args.split,
        overwrite=args.overwrite,
        montages=not args.no_montages,
        progress=not args.no_progress,
    )
    result = evaluate(args.model, args.data, args.out, options)
    for note in result.notes:
        print(f"note: {note}")
    for row in result.summaries["overall"]:
        print(
            f"{row['model']}: PSNR {row.get('psnr_mean', float('nan')):.2f} dB, "
            f"SSIM {row.get('ssim_mean', float('nan')):.4f}, "
            f"MAE {row.get('mae_mean', float('nan')):.4f} over {row['cases']} case(s)"
        )
    for case_id, why in result.failed.items():
        print(f"FAILED {case_id}: {why}", file=sys.stderr)
    print(f"report: {result.paths['html']}")
    return 1 if result.failed else 0
