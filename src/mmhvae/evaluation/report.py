"""Visual report: PNG montages of axial slices and one self-contained HTML page.

Volumes are (X, Y, Z) in RAS voxel order (axial last). An axial slice is shown in the
neurological convention (nilearn's default, patient's left on the screen's left): x (towards
the patient's right) runs left to right and anterior (+y) is at the top, i.e. the image is
``vol[:, :, z].T[::-1]``. Grey images are clipped to [0, 1]; the error and
uncertainty maps use the colour maps below (Pillow only, no matplotlib).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image, ImageDraw, ImageFont

from mmhvae.errors import OutputExistsError
from mmhvae.files import write_bytes_atomic

Cell = NDArray | None  # (H, W) grey in [0, 1], (H, W, 3) uint8 RGB, or None (blank)

# Piecewise-linear colour maps: (position in [0, 1], RGB).
HOT = ((0.0, (0, 0, 0)), (0.35, (200, 0, 0)), (0.7, (255, 200, 0)), (1.0, (255, 255, 255)))
VIRIDIS_LIKE = (  # from black, so that zero spread (and the background) stays dark
    (0.0, (0, 0, 0)),
    (0.1, (68, 1, 84)),
    (0.3, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
MIN_TILE = 160  # small images are enlarged (nearest) so that a montage stays readable
GAP = 4
LABEL_H = 16
BACKGROUND = (24, 24, 24)


def axial_view(volume: ArrayLike, z: int) -> NDArray:
    """Axial slice z of an (X, Y, Z) RAS volume as an image (rows anterior->posterior)."""
    return np.asarray(volume)[:, :, z].T[::-1]


def colourise(image: ArrayLike, vmax: float, cmap: Sequence = HOT) -> NDArray[np.uint8]:
    """(H, W) values in [0, vmax] -> (H, W, 3) uint8 through a piecewise-linear colour map."""
    t = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)) / max(vmax, 1e-12), 0, 1)
    stops = np.array([s for s, _ in cmap])
    colours = np.array([c for _, c in cmap], dtype=np.float64)  # (P, 3)
    rgb = np.stack([np.interp(t, stops, colours[:, ch]) for ch in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _to_rgb(cell: Cell) -> Image.Image | None:
    if cell is None:
        return None
    a = np.asarray(cell)
    if a.ndim == 3 and a.shape[-1] == 3 and a.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(a), "RGB")
    if a.ndim != 2:
        raise ValueError(f"montage cells are (H, W) grey or (H, W, 3) uint8, got {a.shape}")
    grey = np.round(np.clip(np.nan_to_num(a.astype(np.float64)), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(grey), "L").convert("RGB")


def montage(
    rows: Sequence[tuple[str, Sequence[Cell]]],
    columns: Sequence[str],
    path: str | Path,
    overwrite: bool = False,
) -> Path:
    """A labelled grid PNG: one row per (label, cells), one column per ``columns`` label.

    Cells are (H, W) grey in [0, 1], (H, W, 3) uint8 (an already coloured map) or None (left
    blank). Every tile has the size of the largest cell, enlarged to at least MIN_TILE pixels.
    """
    images = [[_to_rgb(c) for c in cells] for _, cells in rows]
    if any(len(r) != len(columns) for r in images):
        raise ValueError(f"every row needs {len(columns)} cells (one per column)")
    sizes = [im.size for r in images for im in r if im is not None]
    if not sizes:
        raise ValueError("a montage needs at least one image")
    w, h = max(s[0] for s in sizes), max(s[1] for s in sizes)
    zoom = max(1, -(-MIN_TILE // max(min(w, h), 1)))  # ceil(MIN_TILE / side)
    tw, th = w * zoom, h * zoom
    font = ImageFont.load_default()
    left = 8 + max((int(font.getlength(label)) for label, _ in rows), default=0)
    width = left + len(columns) * (tw + GAP) + GAP
    height = LABEL_H + GAP + len(rows) * (th + GAP)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(columns):
        draw.text((left + j * (tw + GAP) + GAP, 2), name, fill=(255, 255, 255), font=font)
    for i, ((label, _), tiles) in enumerate(zip(rows, images, strict=True)):
        y = LABEL_H + GAP + i * (th + GAP)
        draw.text((4, y + th // 2 - 6), label, fill=(255, 255, 255), font=font)
        for j, tile in enumerate(tiles):
            x = left + j * (tw + GAP) + GAP
            if tile is None:
                draw.text(
                    (x + tw // 2 - 8, y + th // 2 - 6), "n/a", fill=(128, 128, 128), font=font
                )
                continue
            tile = tile.resize((tile.width * zoom, tile.height * zoom), Image.Resampling.NEAREST)
            canvas.paste(tile, (x + (tw - tile.width) // 2, y + (th - tile.height) // 2))
    return _write_png(canvas, Path(path), overwrite)


def case_montage(
    inputs: Mapping[str, ArrayLike],
    synthesised: Mapping[str, ArrayLike],
    ground_truth: Mapping[str, ArrayLike | None],
    uncertainty: Mapping[str, ArrayLike | None],
    levels: Sequence[int],
    path: str | Path,
    error_max: float = 0.5,
    overwrite: bool = False,
) -> Path:
    """One row per (synthesised modality, axial level z) of (X, Y, Z) volumes in [0, 1].

    Columns: every input modality, the synthesis, its ground truth, |synthesis - truth|
    (HOT map on [0, error_max]) and the per-voxel std over samples (viridis-like map on
    [0, its 99th percentile over the shown slices]); a missing one is left blank.
    """
    columns = [f"input {m}" for m in inputs] + ["synthesised", "ground truth", "|error|", "std"]
    rows: list[tuple[str, list[Cell]]] = []
    for target, synth in synthesised.items():
        truth = ground_truth.get(target)
        spread = uncertainty.get(target)
        vmax = _robust_max(spread, levels) if spread is not None else 1.0
        for z in levels:
            shown = axial_view(synth, z)
            cells: list[Cell] = [axial_view(v, z) for v in inputs.values()]
            cells.append(shown)
            if truth is not None:
                gt = axial_view(truth, z)
                cells += [gt, colourise(np.abs(shown - gt), error_max, HOT)]
            else:
                cells += [None, None]
            cells.append(
                None if spread is None else colourise(axial_view(spread, z), vmax, VIRIDIS_LIKE)
            )
            rows.append((f"{target} z={z}", cells))
    return montage(rows, columns, path, overwrite)


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


def write_html_report(
    path: str | Path,
    title: str,
    summary: str | Sequence[Mapping[str, object]],
    montage_paths: Sequence[str | Path],
    metadata: Mapping[str, object],
    embed: bool = True,
    overwrite: bool = False,
) -> Path:
    """One HTML file that opens from disk without a server.

    ``summary`` is Markdown (headings, paragraphs and pipe tables are rendered) or table rows
    (dicts sharing keys). Montages are embedded as base64 PNGs (``embed``) or linked by their
    path relative to the page. ``metadata`` becomes a key/value table (run, temperature...).
    """
    out = Path(path)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "th{background:#eee}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts.append(_markdown_html(summary) if isinstance(summary, str) else _rows_html(summary))
    if montage_paths:
        parts.append("<h2>Montages</h2>")
    for png in montage_paths:
        png = Path(png)
        if embed:
            src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        else:
            src = Path(os.path.relpath(png.resolve(), out.resolve().parent)).as_posix()
        name = html.escape(png.stem)
        parts.append(
            f'<figure><img src="{html.escape(src)}" alt="{name}">'
            f"<figcaption>{name}</figcaption></figure>"
        )
    parts.append("<h2>Run</h2>")
    parts.append(_rows_html([{"key": k, "value": v} for k, v in metadata.items()]))
    parts.append("</body></html>")
    return _write_bytes(("\n".join(parts) + "\n").encode("utf-8"), out, overwrite)


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


def _markdown_html(text: str) -> str:
    """Headings, paragraphs and pipe tables (the Markdown our summaries use), escaped."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            rows = [dict(zip(table[0], r, strict=False)) for r in table[1:]]
            out.append(_rows_html(rows) if rows else _rows_html([dict.fromkeys(table[0], "")]))
            table.clear()

    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):  # skip the |---| separator row
                table.append(cells)
            continue
        flush()
        if s.startswith("#"):
            level = min(len(s) - len(s.lstrip("#")) + 1, 6)
            out.append(f"<h{level}>{html.escape(s.lstrip('#').strip())}</h{level}>")
        elif s:
            out.append(f"<p>{html.escape(s)}</p>")
    flush()
    return "\n".join(out)


def _write_png(image: Image.Image, path: Path, overwrite: bool) -> Path:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return _write_bytes(buffer.getvalue(), path, overwrite)


def _write_bytes(data: bytes, path: Path, overwrite: bool) -> Path:
    """Atomic write (temp file in the same folder + os.replace); refuses to overwrite."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists (pass overwrite to replace it)")
    return write_bytes_atomic(path, data)
