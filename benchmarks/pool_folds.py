"""Pool the per-case scores of several k-fold comparisons into one table.

Usage: python benchmarks/pool_folds.py FOLD_DIR [FOLD_DIR ...] [--out pooled.md]

Each FOLD_DIR is an ``mmhvae compare`` output (it holds evaluation/per_case.csv). Test
patients are disjoint across folds, so the per-case rows can be concatenated and summarised
exactly as one evaluation would (EVALUATION.md: each case first averaged over its scenarios,
then mean ± std over cases), with the summary code of the package.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from mmhvae.evaluation.summary import METRICS, Row, markdown_table, summarise
from mmhvae.files import write_text_atomic


def read_per_case(folder: Path) -> list[Row]:
    path = folder / "evaluation" / "per_case.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (is {folder} an `mmhvae compare` output?)")
    rows: list[Row] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            parsed: Row = dict(row)
            for metric in METRICS:
                text = row.get(metric, "")
                parsed[metric] = float(text) if text not in ("", "nan") else float("nan")
            parsed["n_inputs"] = int(row["n_inputs"])
            rows.append(parsed)
    return rows


def pooled_markdown(folders: list[Path]) -> str:
    rows = [row for folder in folders for row in read_per_case(folder)]
    cases = sorted({str(r["case"]) for r in rows})
    parts = [
        f"Pooled over {len(folders)} folds ({', '.join(str(f) for f in folders)}): "
        f"{len(cases)} test cases ({', '.join(cases)}).",
        "",
        "### Overall",
        "",
        markdown_table(summarise(rows, ()), ()),
        "",
        "### Per number of inputs",
        "",
        markdown_table(summarise(rows, ("n_inputs",)), ("n_inputs",)),
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folds", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print)")
    args = parser.parse_args()
    text = pooled_markdown(args.folds)
    if args.out:
        write_text_atomic(args.out, text)
    else:
        print(text)


if __name__ == "__main__":
    main()
