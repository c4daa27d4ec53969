"""Per-case rows -> the summaries of EVALUATION.md, written as CSV, Markdown and JSON.

A row is one model x case x scenario (inputs S, target t). A summary level groups rows by
some keys (per (S, t), per target, per |S|, per target x |S|, overall). Within a group each
case is first averaged over its scenarios, then the mean and the standard deviation (ddof 1,
0 for one case) are taken over cases: cases weigh equally, whatever their scenario count.
NaN values (a region metric of a case without segmentation) are left out of the averages.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmhvae.files import write_text_atomic

PROTOCOL_VERSION = "v1"
TITLE = f"mmhvae evaluation (protocol {PROTOCOL_VERSION})"

ID_COLUMNS = ("model", "case", "inputs", "target", "n_inputs")
METRICS = (
    "psnr",
    "mae",
    "ssim",
    "lpips",
    "psnr_tumour",
    "psnr_healthy",
    "ssim_tumour",
    "ssim_healthy",
)
EXTRA_COLUMNS = ("copied_from", "synthesis_s")
CSV_COLUMNS = ID_COLUMNS + METRICS + EXTRA_COLUMNS

LEVELS: dict[str, tuple[str, ...]] = {
    "overall": (),
    "per_target_and_n_inputs": ("target", "n_inputs"),
    "per_target": ("target",),
    "per_n_inputs": ("n_inputs",),
    "per_scenario": ("inputs", "target"),
}

Row = dict[str, Any]


def mean_std_over_cases(rows: Sequence[Row], metric: str) -> tuple[float, float, int]:
    """(mean, std, n) over cases of the per-case mean of ``metric``; nan values skipped."""
    per_case: dict[str, list[float]] = {}
    for row in rows:
        value = row.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        per_case.setdefault(str(row["case"]), []).append(float(value))
    means = np.array([np.mean(v) for v in per_case.values()], dtype=np.float64)
    if means.size == 0:
        return float("nan"), float("nan"), 0
    std = float(means.std(ddof=1)) if means.size > 1 else 0.0
    return float(means.mean()), std, int(means.size)


def summarise(rows: Sequence[Row], keys: Sequence[str]) -> list[Row]:
    """One summary row per model x ``keys`` value: ``{metric}_mean``, ``_std``, ``_n``."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["model"],) + tuple(row[k] for k in keys), []).append(row)
    out = []
    for group_key, members in groups.items():
        summary: Row = {"model": group_key[0]}
        summary.update(zip(keys, group_key[1:], strict=True))
        summary["cases"] = len({r["case"] for r in members})
        for metric in METRICS:
            mean, std, n = mean_std_over_cases(members, metric)
            if n:
                summary[f"{metric}_mean"], summary[f"{metric}_std"] = mean, std
                summary[f"{metric}_n"] = n
        out.append(summary)
    return out


def all_summaries(rows: Sequence[Row]) -> dict[str, list[Row]]:
    return {level: summarise(rows, keys) for level, keys in LEVELS.items()}


def rows_to_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in CSV_COLUMNS})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return value


def _json_safe(value: Any) -> Any:
    """NaN and inf are not JSON: nan -> null, inf -> the strings "inf" / "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def summary_json(summaries: Mapping[str, list[Row]], metadata: Mapping[str, Any]) -> str:
    return json.dumps(_json_safe({**metadata, "summary": summaries}), indent=2) + "\n"


def metadata_lines(metadata: Mapping[str, Any]) -> list[str]:
    """The settings every table states (protocol, temperature, samples, seed, models, ...)."""
    lines = []
    for key, value in metadata.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        lines.append(f"- **{key}**: {value}")
    return lines


def markdown_table(summary: Sequence[Row], keys: Sequence[str]) -> str:
    """A Markdown table: the keys, then each metric present in any row as ``mean ± std``,
    or the mean alone where it comes from one case (a spread of one value says nothing)."""
    metrics = [m for m in METRICS if any(f"{m}_mean" in r for r in summary)]
    header = ["model", *keys, "cases", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary:
        cells = [str(row["model"]), *(str(row[k]) for k in keys), str(row["cases"])]
        for metric in metrics:
            if f"{metric}_mean" not in row:
                cells.append("")
                continue
            digits = 2 if metric.startswith("psnr") else 4
            cell = f"{row[f'{metric}_mean']:.{digits}f}"
            if row.get(f"{metric}_n", 1) > 1:
                cell += f" ± {row[f'{metric}_std']:.{digits}f}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(
    summaries: Mapping[str, list[Row]],
    metadata: Mapping[str, Any],
    notes: Sequence[str] = (),
    heading: bool = True,
) -> str:
    """The summary page; ``heading=False`` leaves out the title (the HTML page has its own)."""
    titles = {
        "overall": "Overall",
        "per_target_and_n_inputs": "Per target and number of inputs",
        "per_target": "Per target",
        "per_n_inputs": "Per number of inputs |S|",
        "per_scenario": "Per scenario (inputs S, target t)",
    }
    parts = [f"# {TITLE}", ""] if heading else []
    if metadata:
        parts += [*metadata_lines(metadata), ""]
    if notes:
        parts += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    parts.append(
        "Mean ± standard deviation over cases (each case first averaged over its scenarios; "
        "the mean alone where there is one case); PSNR in dB, MAE and SSIM in the [0, 1] "
        "normalised space of EVALUATION.md."
    )
    for level, keys in LEVELS.items():
        parts += ["", f"## {titles[level]}", "", markdown_table(summaries[level], keys)]
    return "\n".join(parts) + "\n"


# The files of a report folder (the CLI refuses to replace them without --overwrite).
CSV_NAME, MARKDOWN_NAME, JSON_NAME, HTML_NAME, MONTAGE_DIR = (
    "per_case.csv",
    "summary.md",
    "summary.json",
    "report.html",
    "montages",
)
OUTPUT_NAMES = (CSV_NAME, MARKDOWN_NAME, JSON_NAME, HTML_NAME, MONTAGE_DIR)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass(frozen=True)
class TargetView:
    """What one target's montage shows: its synthesis from ``inputs`` (RAS volumes), the
    std over samples (or None) and the input the copy reference copies (or None)."""

    target: str
    inputs: tuple[str, ...]
    synthesis: np.ndarray
    std: np.ndarray | None = None
    copy_source: str | None = None


def write_montages(
    out: Path,
    model: str,
    case_id: str,
    views: Sequence[TargetView],
    truth: Mapping[str, np.ndarray],
    mask: np.ndarray,
    tumour: np.ndarray | None,
    samples: int = 1,
) -> list[tuple[str, Path]]:
    """One PNG per target of one model on one case (RAS volumes): the inputs, the synthesis,
    the copy reference, the truth, |error| and the std, at a few axial levels through the
    tumour (or brain) centre. Returns (caption, path) pairs."""
    from mmhvae.evaluation.report import choose_levels, target_montage

    levels = choose_levels(mask, tumour)
    written = []
    for view in views:
        caption = f"{model} · {case_id} · {view.target} from {'+'.join(view.inputs)}"
        copy = None
        if view.copy_source is not None and view.copy_source in truth:
            copy = (view.copy_source, truth[view.copy_source])
        path = out / MONTAGE_DIR / f"{_safe(model)}_{_safe(case_id)}_{_safe(view.target)}.png"
        target_montage(
            path,
            caption,
            {m: truth[m] for m in view.inputs},
            view.synthesis,
            truth.get(view.target),
            levels,
            copy=copy,
            std=view.std,
            samples=samples,
            overwrite=True,  # the report folder was checked for earlier outputs at the start
        )
        written.append((caption, path))
    return written


def write_outputs(
    out: Path,
    rows: Sequence[Row],
    summaries: Mapping[str, list[Row]],
    metadata: Mapping[str, Any],
    notes: Sequence[str],
    montages: Sequence[tuple[str, Path]],
) -> dict[str, Path]:
    """per_case.csv, summary.md, summary.json and report.html in ``out`` (atomic writes)."""
    from mmhvae.evaluation.report import write_html_report

    out.mkdir(parents=True, exist_ok=True)
    shown = {k: v for k, v in metadata.items() if k != "copy correlations"}
    markdown = summary_markdown(summaries, shown, notes)
    paths = {
        "csv": out / CSV_NAME,
        "markdown": out / MARKDOWN_NAME,
        "json": out / JSON_NAME,
        "html": out / HTML_NAME,
    }
    write_text_atomic(paths["csv"], rows_to_csv(rows))
    write_text_atomic(paths["markdown"], markdown)
    write_text_atomic(paths["json"], summary_json(summaries, {**metadata, "notes": list(notes)}))
    html_meta = {k: _plain_text(v) for k, v in shown.items()}
    write_html_report(
        paths["html"],
        TITLE,
        summary_markdown(summaries, {}, notes, heading=False),  # settings: the run table
        [path for _, path in montages],
        html_meta,
        overwrite=True,
        captions=[caption for caption, _ in montages],
    )
    return paths


def _plain_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
