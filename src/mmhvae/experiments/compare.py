"""``mmhvae compare``: train several methods on the same data with the same budget and seed,
score them all with the evaluation pipeline, and write one comparison table.

Layout of OUT: ``runs/METHOD/`` (each method's run folder), ``evaluation/`` (the full report
of evaluation/evaluate.py, the copy reference included) and ``comparison.{md,json,csv}``:
per method the overall PSNR / SSIM / MAE / LPIPS (mean ± std over cases), the generator's
parameter count, the synthesis time per volume (seconds for one call on one case's volume,
every brain slice, measured in this process by the evaluation) and the steps and minutes
trained; then per target and per number of inputs.

Fairness: every method gets the same config (``--config``, ``--set``), the same seed, the
same training cases and the same step budget (``train.steps``) and/or wall-clock budget
(``train.time_budget_minutes``: the trainer stops at the first logging step past it, with a
checkpoint and a final validation). A run folder that already holds a finished checkpoint
is reused when ``reuse`` is set, so a comparison can be resumed method by method.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mmhvae.config import Config, load_config
from mmhvae.errors import ConfigError, OutputExistsError
from mmhvae.evaluation.evaluate import (
    COPY_NAME,
    EvaluationOptions,
    EvaluationResult,
    LoadedModel,
    evaluate_models,
)
from mmhvae.evaluation.summary import Row
from mmhvae.files import write_text_atomic
from mmhvae.methods import METHODS
from mmhvae.runs import RunFolder, load_method, run_summary

TABLE_METRICS = ("psnr", "ssim", "mae", "lpips")
OUTPUT_FILES = ("comparison.md", "comparison.json", "comparison.csv")


@dataclass(frozen=True)
class CompareOptions:
    """What ``mmhvae compare`` trains and how it is scored."""

    methods: tuple[str, ...]
    config: str = "tiny"
    overrides: tuple[str, ...] = ()
    budget_minutes: float = 0.0  # wall-clock training budget per method; 0: none
    steps: int | None = None  # step budget per method; None: the config's train.steps
    seed: int = 0
    device: str | None = None
    reuse: bool = False  # keep runs that already hold a checkpoint
    overwrite: bool = False
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)


@dataclass
class MethodRecord:
    """One trained method: its run folder, cost and size."""

    name: str
    run_dir: Path
    steps: int
    train_minutes: float
    parameters: int
    synthesis_s: float = float("nan")


@dataclass
class CompareResult:
    records: list[MethodRecord]
    evaluation: EvaluationResult
    table: list[Row]
    paths: dict[str, Path]


def parse_methods(text: str) -> tuple[str, ...]:
    """``"mmhvae,mvae"`` -> ("mmhvae", "mvae"); unknown or repeated names raise ConfigError."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ConfigError("--methods: give at least one method")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(
            f"--methods: unknown method {unknown[0]!r} (known: {', '.join(sorted(METHODS))})"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--methods {text!r}: a method is named twice")
    return names


def method_config(options: CompareOptions, method: str) -> Config:
    """The shared config with this method, the shared seed and the shared budgets."""
    overrides = list(options.overrides)
    overrides += [f"method={method}", f"train.seed={options.seed}"]
    overrides.append(f"train.time_budget_minutes={options.budget_minutes}")
    if options.steps is not None:
        overrides.append(f"train.steps={options.steps}")
    return load_config(options.config, overrides)


def compare(
    train_data: str | Path, test_data: str | Path, out: str | Path, options: CompareOptions
) -> CompareResult:
    """Train every method of ``options`` on ``train_data``, score them on ``test_data``."""
    out = Path(out)
    _refuse_existing(out, options.overwrite)
    device = options.evaluation.device or options.device
    loaded: list[LoadedModel] = []
    records: list[MethodRecord] = []
    for method in options.methods:
        run_dir = out / "runs" / method
        _train(method_config(options, method), train_data, run_dir, options)
        trained, config, _ = load_method(run_dir, device or "cpu")
        records.append(_record(method, run_dir, trained))
        loaded.append(LoadedModel(method, trained, config, run_dir))
    evaluation_options = replace(options.evaluation, overwrite=True, device=device)
    if evaluation_options.copy_from is None:
        evaluation_options = replace(evaluation_options, copy_from=str(train_data))
    result = evaluate_models(loaded, test_data, out / "evaluation", evaluation_options)
    for record in records:
        record.synthesis_s = synthesis_seconds(result.rows, record.name)
    table = comparison_rows(records, result.summaries)
    settings = _settings(train_data, test_data, options)
    paths = _write(out, records, table, result, settings)
    return CompareResult(records, result, table, paths)


def _refuse_existing(out: Path, overwrite: bool) -> None:
    existing = [out / name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]}: exists (use --overwrite to replace it)")


def _train(config: Config, data: str | Path, run_dir: Path, options: CompareOptions) -> None:
    from mmhvae.training.trainer import fit

    if options.reuse and RunFolder(run_dir).last.is_file():
        return
    fit(config, data, run_dir, device=options.device, overwrite=options.overwrite)


def _record(name: str, run_dir: Path, method: Any) -> MethodRecord:
    summary = run_summary(run_dir)
    return MethodRecord(
        name=name,
        run_dir=run_dir,
        steps=summary.steps,
        train_minutes=summary.train_minutes,
        parameters=sum(p.numel() for p in method.parameters()),
    )


def synthesis_seconds(rows: Sequence[Row], model: str) -> float:
    """Mean seconds of one synthesis call on a whole volume: the calls are (case, inputs)
    pairs; rows of the targets synthesised by the same call share its time."""
    calls = {(r["case"], r["inputs"]): float(r["synthesis_s"]) for r in rows if r["model"] == model}
    return sum(calls.values()) / len(calls) if calls else float("nan")


def comparison_rows(records: Sequence[MethodRecord], summaries: dict[str, list[Row]]) -> list[Row]:
    """Long-format rows: (method, level, group, metric, mean, std, cases), the methods first
    in the given order, then the copy reference; plus the cost rows of every method."""
    order = [r.name for r in records] + [COPY_NAME]
    rows: list[Row] = []
    for level, key in (("overall", None), ("per_target", "target"), ("per_n_inputs", "n_inputs")):
        for summary in sorted(
            summaries.get(level, []),
            key=lambda s: (
                order.index(s["model"]) if s["model"] in order else len(order),
                str(s.get(key, "")) if key else "",
            ),
        ):
            for metric in TABLE_METRICS:
                if f"{metric}_mean" in summary:
                    rows.append(
                        {
                            "method": summary["model"],
                            "level": level,
                            "group": str(summary[key]) if key else "all",
                            "metric": metric,
                            "mean": summary[f"{metric}_mean"],
                            "std": summary[f"{metric}_std"],
                            "cases": summary["cases"],
                        }
                    )
    for record in records:
        for metric, value in (
            ("parameters", record.parameters),
            ("synthesis_s_per_volume", record.synthesis_s),
            ("steps", record.steps),
            ("train_minutes", record.train_minutes),
        ):
            rows.append(
                {
                    "method": record.name,
                    "level": "cost",
                    "group": "all",
                    "metric": metric,
                    "mean": value,
                    "std": "",
                    "cases": "",
                }
            )
    return rows


def markdown(
    records: Sequence[MethodRecord], table: Sequence[Row], settings: dict[str, Any]
) -> str:
    """The comparison as Markdown: settings, the overall table with costs, per target, per |S|."""
    value = {(r["method"], r["level"], r["group"], r["metric"]): r for r in table}
    methods = [r.name for r in records] + (
        [COPY_NAME] if any(r["method"] == COPY_NAME for r in table) else []
    )
    metrics = [m for m in TABLE_METRICS if any(r["metric"] == m for r in table)]
    cost = {r.name: r for r in records}

    def cell(method: str, level: str, group: str, metric: str) -> str:
        row = value.get((method, level, group, metric))
        if row is None:
            return ""
        digits = 2 if metric == "psnr" else 4
        return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"

    lines = ["# Method comparison", ""]
    lines += [f"- **{k}**: {v}" for k, v in settings.items()]
    lines += [
        "",
        "Mean ± standard deviation over test cases (each case first averaged over its "
        "scenarios). PSNR in dB; MAE and SSIM in the [0, 1] space of EVALUATION.md.",
        "",
    ]
    header = ["method", *metrics, "parameters", "synthesis s / volume", "steps", "train min"]
    lines += ["## Overall", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        cells = [cell(method, "overall", "all", m) for m in metrics]
        if method in cost:
            r = cost[method]
            cells += [
                f"{r.parameters:,}",
                f"{r.synthesis_s:.2f}",
                str(r.steps),
                f"{r.train_minutes:.1f}",
            ]
        else:
            cells += ["", "", "", ""]
        lines.append("| " + " | ".join([method, *cells]) + " |")
    for level, title in (("per_target", "Per target"), ("per_n_inputs", "Per number of inputs")):
        groups = sorted({r["group"] for r in table if r["level"] == level})
        for metric in metrics:
            lines += [
                "",
                f"## {title}: {metric}",
                "",
                "| method | " + " | ".join(groups) + " |",
                "|" + "---|" * (len(groups) + 1),
            ]
            for method in methods:
                cells = [cell(method, level, g, metric) for g in groups]
                lines.append("| " + " | ".join([method, *cells]) + " |")
    return "\n".join(lines) + "\n"


def _settings(train: str | Path, test: str | Path, options: CompareOptions) -> dict[str, Any]:
    return {
        "train data": str(train),
        "test data": str(test),
        "methods": ", ".join(options.methods),
        "config": options.config + "".join(f" --set {o}" for o in options.overrides),
        "budget minutes per method": options.budget_minutes or "none",
        "steps per method": options.steps if options.steps is not None else "config",
        "seed": options.seed,
        "temperature": options.evaluation.temperature,
        "samples": options.evaluation.samples,
    }


def _write(
    out: Path,
    records: Sequence[MethodRecord],
    table: Sequence[Row],
    result: EvaluationResult,
    settings: dict[str, Any],
) -> dict[str, Path]:
    paths = {name.rsplit(".", 1)[1]: out / name for name in OUTPUT_FILES}
    write_text_atomic(paths["md"], markdown(records, table, settings))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]) if table else ["method"])
    writer.writeheader()
    writer.writerows(table)
    write_text_atomic(paths["csv"], buffer.getvalue())
    document = {
        "settings": settings,
        "methods": [
            {
                "name": r.name,
                "run": str(r.run_dir),
                "steps": r.steps,
                "train_minutes": r.train_minutes,
                "parameters": r.parameters,
                "synthesis_s_per_volume": r.synthesis_s,
            }
            for r in records
        ],
        "table": list(table),
        "notes": result.notes,
    }
    write_text_atomic(paths["json"], json.dumps(_finite(document), indent=2) + "\n")
    return paths


def _finite(value: Any) -> Any:
    """NaN is not JSON: nan -> null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
