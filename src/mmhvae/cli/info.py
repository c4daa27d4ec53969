"""``mmhvae info DATA``: cases x modalities, grid and spacing, and every problem found.

Headers only by default (fast on large datasets); ``--check-voxels`` also reads the voxels
to find all-zero, constant, label-map, non-finite and truncated volumes, and images whose
background is not zero when the case has no brain mask file (data/background.py).
``--json`` prints the same facts as one JSON object (for scripts): data, layout, split,
cases (files, shape, spacing, problems per case), available counts, every problem and every
note. Exits with 1 when it lists a problem (0 when none, 2 when the dataset cannot be read
at all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from mmhvae.cli.options import add_split
from mmhvae.data.background import background_problem
from mmhvae.data.case import choose_reference, image_problem
from mmhvae.data.coverage import coverage_warnings
from mmhvae.data.grid import describe_grid, grid_mismatches, voxel_spacing
from mmhvae.data.layouts import CaseFiles, Layout, discover_cases
from mmhvae.data.modalities import sort_modalities
from mmhvae.data.nifti import load_header, load_volume, spatial_shape
from mmhvae.data.provenance import synthetic_mark
from mmhvae.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="dataset folder, case folder or CSV manifest")
    parser.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=None,
        help="force a layout instead of detecting it",
    )
    add_split(parser)
    parser.add_argument(
        "--no-resample",
        action="store_true",
        help="report cases whose volumes are on different grids as unusable",
    )
    parser.add_argument(
        "--check-voxels",
        action="store_true",
        help="also read the voxels: all-zero, non-finite, truncated volumes and images whose "
        "background is not zero (z-scored, noise) when no brain mask file is given",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    parser.add_argument(
        "--allow-synthetic",
        action="store_true",
        help="list files marked synthetic by mmhvae (sidecar or descrip) as present modalities",
    )


def run(args: argparse.Namespace) -> int:
    cases = discover_cases(
        args.data, args.layout, allow_synthetic=args.allow_synthetic, split=args.split
    )
    modalities = sort_modalities(m for case in cases for m in case.images)
    rows: list[list[str]] = []
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    notes: list[str] = []
    for case in cases:
        row, case_problems, case_notes = _inspect(
            case, modalities, args.no_resample, args.check_voxels
        )
        rows.append(row)
        records.append(_record(case, row, modalities, case_problems))
        problems.extend(case_problems)
        notes.extend(case_notes)
    available = {m: sum(m in c.images for c in cases) for m in modalities}
    if args.json:
        summary = {
            "data": str(args.data),
            "layout": cases[0].layout.value,
            "split": cases[0].split.value if cases[0].split else None,
            "modalities": list(modalities),
            "cases": records,
            "available": available,
            "problems": problems,
            "notes": notes,
        }
        print(json.dumps(summary, indent=2))
        return 1 if problems else 0
    header = ["case", *modalities, "seg", "mask", "shape", "spacing (mm)"]
    split = f" ({cases[0].split.folder} only, --split tr|ts)" if cases[0].split else ""
    print(f"{args.data}: {len(cases)} cases, layout {cases[0].layout.value}{split}")
    print(_table([header, *rows]))
    counts = ", ".join(f"{m} {n}" for m, n in available.items())
    print(f"\navailable: {counts} (of {len(cases)})")
    if notes:  # what the tool will do on its own (resampling): not a problem
        print(f"\n{len(notes)} note(s):")
        for note in notes:
            print(f"  {note}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for problem in problems:
            print(f"  {problem}")
    else:
        print("\nno problems found")
    # a script can rely on the exit status: 1 when the data has problems
    return 1 if problems else 0


def _record(
    case: CaseFiles, row: list[str], modalities: tuple[str, ...], problems: list[str]
) -> dict[str, Any]:
    """One case as JSON: its files, which are usable, the grid and its problems."""
    marks = dict(zip([*modalities, "seg", "mask"], row[1:-2], strict=True))
    files = {**case.images, "seg": case.seg, "mask": case.mask}
    shape, spacing = row[-2], row[-1]
    return {
        "case": case.case_id,
        "files": {k: str(v) for k, v in files.items() if v is not None},
        "synthetic": {k: str(v) for k, v in case.synthetic.items()},
        "usable": {k: marks[k] == "x" for k, v in files.items() if v is not None},
        "shape": None if shape == "?" else [int(n) for n in shape.split("x")],
        "spacing_mm": None if spacing == "?" else [float(n) for n in spacing.split("x")],
        "problems": problems,
    }


def _inspect(
    case: CaseFiles, modalities: tuple[str, ...], no_resample: bool, check_voxels: bool
) -> tuple[list[str], list[str], list[str]]:
    """One table row, the problems and the notes of ``case``; never raises for a bad file."""
    problems: list[str] = [f"{case.case_id}: {p}" for p in case.problems]
    notes: list[str] = [  # left out on purpose: not a problem of the data
        f"{case.case_id}: {path} is marked synthetic ({synthetic_mark(path)}): not used as "
        f"the {m} input (--allow-synthetic to use it)"
        for m, path in case.synthetic.items()
    ]
    grids: dict[str, tuple[tuple[int, ...], np.ndarray]] = {}
    voxels: dict[str, np.ndarray] = {}  # the images read with --check-voxels
    files = {**case.images, "seg": case.seg, "mask": case.mask}
    for name, path in files.items():
        if path is None:
            continue
        try:
            image = load_header(path)
            grids[name] = (spatial_shape(image, path), image.affine)
            if check_voxels:
                kind = name if name in ("seg", "mask") else "image"
                volume = load_volume(path, kind)  # type: ignore[arg-type]
                unusable = image_problem(volume.data) if name in case.images else None
                if unusable is not None:
                    problems.append(f"{case.case_id}: {path} {unusable} ({name} treated as absent)")
                    grids.pop(name)
                elif name in case.images:
                    voxels[name] = volume.data
                    if case.mask is None:
                        problems.extend(_background(case.case_id, path, volume.data))
        except DataError as error:
            problems.append(f"{case.case_id}: {error}")
            grids.pop(name, None)
    images = [m for m in case.images if m in grids]
    marks = ["x" if m in grids else ("!" if m in case.images else "-") for m in modalities]
    labels = ["x" if k in grids else ("!" if files[k] else "-") for k in ("seg", "mask")]
    if not images:
        problems.append(f"{case.case_id}: no usable image")
        return [case.case_id, *marks, *labels, "?", "?"], problems, []
    reference = choose_reference(sort_modalities(images))
    shape, affine = grids[reference]
    off = grid_mismatches(grids, reference)
    if off:
        detail = ", ".join(f"{n} {describe_grid(*grids[n])}" for n in off)
        action = (
            "refused (resampling off)" if no_resample else f"resampled onto the {reference} grid"
        )
        (problems if no_resample else notes).append(
            f"{case.case_id}: volumes on different grids ({reference} "
            f"{describe_grid(shape, affine)} vs {detail}): {action}"
        )
    on_grid = {m: v for m, v in voxels.items() if m in grids and m not in off}
    problems += coverage_warnings(case.case_id, on_grid, case.images)
    size = "x".join(str(s) for s in shape)
    spacing = "x".join(f"{s:.2f}" for s in voxel_spacing(affine))
    return [case.case_id, *marks, *labels, size, spacing], problems, notes


def _background(case_id: str, path: Path, data: np.ndarray) -> list[str]:
    """The problem of an image whose background is not zero, when no mask file is given:
    its brain is then estimated (data/background.py), not read from the data."""
    problem = background_problem(data)
    if problem is None:
        return []
    return [
        f"{case_id}: {path} {problem}: its brain mask is estimated, not voxels > 0 "
        "(give a brain mask file to be sure)"
    ]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
