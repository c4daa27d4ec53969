"""Visual report: one PNG montage per (model, case, target) and one self-contained HTML page.

Volumes are (X, Y, Z) in RAS voxel order (axial last; +x towards the patient's right, +y
anterior). An axial slice is shown in the radiological convention, as ITK-SNAP and 3D Slicer
show it and as data/preprocess.py lays out the model's slices: anterior at the top and the
patient's RIGHT on the viewer's LEFT, i.e. the image is ``vol[::-1, :, z].T[::-1]``; the
first tile of every row carries R / L / A / P markers. Grey images are on [0, 1]; the error
(inferno) and the uncertainty (viridis) have their own colour bars (mmhvae/figures.py).
The summary Markdown is rendered by the ``markdown`` package (tables extension).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import markdown as markdown_lib
import numpy as np
from numpy.typing import ArrayLike, NDArray

from mmhvae.errors import OutputExistsError
from mmhvae.figures import Column, Scale, figure_png, montage_figure
from mmhvae.files import write_bytes_atomic

ERROR_CMAP = "inferno"
STD_CMAP = "viridis"


def axial_view(volume: ArrayLike, z: int) -> NDArray:
    """Axial slice z of an (X, Y, Z) RAS volume as displayed: rows anterior -> posterior,
    columns patient right -> left (radiological)."""
    return np.asarray(volume)[::-1, :, z].T[::-1]


def target_montage(
    path: str | Path,
    title: str,
    inputs: Mapping[str, ArrayLike],
    synthesis: ArrayLike,
    truth: ArrayLike | None,
    levels: Sequence[int],
    copy: tuple[str, ArrayLike] | None = None,
    std: ArrayLike | None = None,
    samples: int = 1,
    error_max: float = 0.5,
    overwrite: bool = False,
) -> Path:
    """One target of one case: a row per axial level z of (X, Y, Z) RAS volumes in [0, 1].

    Columns: every input, the synthesis, the copy reference (``(source, volume)``), the
    truth, |synthesis - truth| (on [0, error_max]) and the std over ``samples`` (on
    [0, its 99th percentile over the shown slices]); the copy, truth and error columns are
    left out when not given, the std column when ``std`` is None.
    """

    def view(volume: ArrayLike) -> list[NDArray | None]:
        return [axial_view(volume, z) for z in levels]

    columns = [Column(f"input {m}", view(v)) for m, v in inputs.items()]
    columns.append(Column("synthesis", view(synthesis)))
    if copy is not None:
        columns.append(Column(f"copy ({copy[0]})", view(copy[1])))
    if truth is not None:
        error = np.abs(np.asarray(synthesis, np.float32) - np.asarray(truth, np.float32))
        columns.append(Column("truth", view(truth)))
        columns.append(
            Column("|synthesis - truth|", view(error), Scale("|error|", ERROR_CMAP, 0, error_max))
        )
    if std is not None:
        label = f"std over {samples} samples"
        columns.append(
            Column("std", view(std), Scale(label, STD_CMAP, 0, _robust_max(std, levels)))
        )
    figure = montage_figure(columns, [f"z = {z}" for z in levels], title)
    return _write_bytes(figure_png(figure), Path(path), overwrite)


def choose_levels(mask: ArrayLike, tumour: ArrayLike | None = None, n: int = 3) -> list[int]:
    """``n`` axial levels (last axis): through the tumour's centre (label > 0) if there is one,
    else the brain's, plus neighbours spaced by extent / (n + 1) of that region, within it."""
    region = np.asarray(mask, dtype=bool)
    if tumour is not None and (np.asarray(tumour) > 0).any():
        region = np.asarray(tumour) > 0
    zs = np.flatnonzero(region.any(axis=(0, 1)))
    if zs.size == 0:
        raise ValueError("choose_levels: the brain mask is empty")
    counts = region.sum(axis=(0, 1))[zs]
    centre = int(round(float(np.average(zs, weights=counts))))
    step = max(1, (int(zs[-1]) - int(zs[0]) + 1) // (n + 1))
    offsets = [k - (n - 1) / 2 for k in range(n)]
    levels = {int(np.clip(round(centre + o * step), zs[0], zs[-1])) for o in offsets}
    return sorted(levels)


def _robust_max(volume: ArrayLike, levels: Sequence[int]) -> float:
    values = np.stack([axial_view(volume, z) for z in levels])
    top = float(np.percentile(values, 99)) if values.size else 0.0
    return top if top > 0 else 1.0


RADIOLOGICAL_NOTE = (
    "Axial slices in the radiological convention, as ITK-SNAP and 3D Slicer show them: the "
    "patient's right on the left of each image (R / L / A / P markers on the first tile of "
    "each row), anterior at the top. Intensities are the [0, 1] normalised space of "
    "EVALUATION.md."
)

STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "font-size:16px;line-height:1.45;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}"
    "td,th{border:1px solid #ccc;padding:4px 10px}td{text-align:right}"
    "td:first-child,th:first-child{text-align:left}th{background:#f2f2f2}"
    "tbody tr:nth-child(even){background:#fafafa}"
    "figure{margin:1.5em 0}img{max-width:100%;height:auto}"
    "figcaption{font-size:15px;color:#444;margin-top:.3em}code{background:#f2f2f2;padding:0 3px}"
)


def write_html_report(
    path: str | Path,
    title: str,
    summary: str | Sequence[Mapping[str, object]],
    montage_paths: Sequence[str | Path],
    metadata: Mapping[str, object],
    embed: bool = True,
    overwrite: bool = False,
    captions: Sequence[str] | None = None,
) -> Path:
    """One HTML file that opens from disk without a server.

    ``summary`` is Markdown (rendered by the ``markdown`` package with its tables extension;
    raw HTML in it is escaped, not passed through) or table rows (dicts sharing keys); it
    should not repeat ``title``, which is the page's only <h1>. Montages are embedded as
    base64 PNGs (``embed``) or linked by their path relative to the page, captioned by
    ``captions`` (default: the file names). ``metadata`` becomes a key/value table.
    """
    out = Path(path)
    if captions is not None and len(captions) != len(montage_paths):
        raise ValueError("captions: one per montage")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts.append(render_markdown(summary) if isinstance(summary, str) else _rows_html(summary))
    if montage_paths:
        parts += ["<h2>Montages</h2>", f"<p>{html.escape(RADIOLOGICAL_NOTE)}</p>"]
    for index, png in enumerate(montage_paths):
        png = Path(png)
        if embed:
            src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        else:
            src = Path(os.path.relpath(png.resolve(), out.resolve().parent)).as_posix()
        name = html.escape(captions[index] if captions is not None else png.stem)
        parts.append(
            f'<figure><img src="{html.escape(src)}" alt="{name}" loading="lazy">'
            f"<figcaption>{name}</figcaption></figure>"
        )
    parts.append("<h2>Run</h2>")
    parts.append(_rows_html([{"key": k, "value": v} for k, v in metadata.items()]))
    parts.append("</body></html>")
    return _write_bytes(("\n".join(parts) + "\n").encode("utf-8"), out, overwrite)


def render_markdown(text: str) -> str:
    """Markdown -> HTML (``markdown`` package, tables extension); raw HTML is escaped first,
    so a case id or a note with ``<`` shows as text."""
    return markdown_lib.markdown(html.escape(text, quote=False), extensions=["tables"])


def _rows_html(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k, '')))}</td>" for k in keys) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _write_bytes(data: bytes, path: Path, overwrite: bool) -> Path:
    """Atomic write (temp file in the same folder + os.replace); refuses to overwrite."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists (pass overwrite to replace it)")
    return write_bytes_atomic(path, data)
