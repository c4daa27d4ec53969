"""Montages of 2D slices through matplotlib: titled columns, labelled rows, colour bars and
orientation markers. The evaluation report and the training grids draw with it.

Tiles are given as the viewer sees them. For axial slices in the radiological convention
(ITK-SNAP's and 3D Slicer's default) that is rows anterior -> posterior and columns patient
right -> left; the markers then read R on the left, L on the right, A at the top and P at
the bottom of the first tile of every row (``markers=RADIOLOGICAL``).

Figures are built on ``matplotlib.figure.Figure`` (no pyplot: no global state, no GUI
backend), rendered by Agg.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

# (left, right, top, bottom) labels of a tile: what the viewer's left edge shows, etc.
RADIOLOGICAL = ("R", "L", "A", "P")
FONT_SIZE = 11
DPI = 100
# the fixed layout of a montage, in inches: row labels at the left, column titles (and the
# figure's title) above the grid, the colour bars with their ticks and labels below it
LABEL_IN = 0.12
LABEL_LINE_IN = 0.2  # per line of a row label
MARGIN_IN = 0.1
TITLES_IN = 0.3
SUPTITLE_IN = 0.35
GAP_IN = 0.06
BARS_IN = 0.85
BAR_GAP_IN = 0.08  # between the last row of tiles and the colour bars
BAR_IN = 0.15


@dataclass(frozen=True)
class Scale:
    """How a column's values become colours: a matplotlib colour map on [vmin, vmax]."""

    label: str  # the colour bar's label
    cmap: str = "gray"
    vmin: float = 0.0
    vmax: float = 1.0


GREY = Scale("intensity (normalised, 0-1)")


@dataclass(frozen=True)
class Column:
    """One column of a montage: its title, one tile per row ((H, W) or None) and its scale."""

    title: str
    tiles: Sequence[ArrayLike | None]
    scale: Scale = GREY


def montage_figure(
    columns: Sequence[Column],
    row_labels: Sequence[str],
    title: str | None = None,
    markers: tuple[str, str, str, str] | None = RADIOLOGICAL,
    tile_inches: float = 2.1,
) -> Figure:
    """A grid figure: one row per ``row_labels`` entry, one column per ``columns`` entry,
    and one horizontal colour bar per distinct :class:`Scale` under the columns using it.

    A None tile is drawn as "n/a". Raises ValueError when a column's tile count is not the
    row count or when there is no tile at all.

    The tiles are coloured here (each column's colour map) and pasted as ONE image at
    the figure's own pixel size: a subplot per tile cost ~0.4 s to build and ~0.4 s to
    draw for a report montage of ~20 tiles, four per evaluated case and model. A tile keeps
    its aspect ratio (nearest-neighbour scaling into a square cell, centred on white). Titles,
    row labels, markers and "n/a" are figure texts (``figure.texts``), the tiles one
    ``figure.images`` entry, and ``figure.axes`` the colour bars.
    """
    n_rows, n_cols = len(row_labels), len(columns)
    if any(len(c.tiles) != n_rows for c in columns):
        raise ValueError(f"every column needs {n_rows} tiles (one per row)")
    if not any(t is not None for c in columns for t in c.tiles):
        raise ValueError("a montage needs at least one image")
    # A fixed layout in inches: matplotlib's constrained layout gave the same picture but took
    # ~1 s of the ~1.5 s a report montage cost.
    top = TITLES_IN + (SUPTITLE_IN if title else 0.0)
    lines = max(str(label).count("\n") + 1 for label in row_labels)
    labels = LABEL_IN + lines * LABEL_LINE_IN  # the row labels are turned 90 degrees
    grid_w = n_cols * tile_inches + (n_cols - 1) * GAP_IN
    grid_h = n_rows * tile_inches + (n_rows - 1) * GAP_IN
    width, height = labels + grid_w + MARGIN_IN, top + grid_h + BARS_IN
    figure = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    cell, gap = round(tile_inches * DPI), round(GAP_IN * DPI)
    pixels = np.full((n_rows * (cell + gap) - gap, n_cols * (cell + gap) - gap, 3), 255, np.uint8)
    for j, column in enumerate(columns):
        colours = colormaps[column.scale.cmap]
        norm = Normalize(column.scale.vmin, column.scale.vmax, clip=True)
        for i, tile in enumerate(column.tiles):
            y, x = i * (cell + gap), j * (cell + gap)
            if tile is None:
                pixels[y : y + cell, x : x + cell] = 0xF0
                continue
            image = np.nan_to_num(np.asarray(tile, dtype=np.float32))
            rgb = colours(norm(image), bytes=True)[..., :3]
            fitted = _fit_square(rgb, cell)
            dy, dx = (cell - fitted.shape[0]) // 2, (cell - fitted.shape[1]) // 2
            pixels[y + dy : y + dy + fitted.shape[0], x + dx : x + dx + fitted.shape[1]] = fitted
    # pasted at the grid's pixel offset, unscaled: no resampling of a large image when drawn
    figure.figimage(pixels, xo=round(labels * DPI), yo=round(BARS_IN * DPI), origin="upper")

    def box(i: int, j: int) -> tuple[float, float, float, float]:
        """Tile (i, j) as (x0, x1, y0, y1) in figure fractions."""
        x0 = labels + j * (tile_inches + GAP_IN)
        y1 = height - top - i * (tile_inches + GAP_IN)
        return x0 / width, (x0 + tile_inches) / width, (y1 - tile_inches) / height, y1 / height

    pad = 6 / 72  # inches between a title or a label and its tile (matplotlib's default pad)
    for j, column in enumerate(columns):  # titles first, then row labels, then "n/a"
        x0, x1, _, y1 = box(0, j)
        figure.text(
            (x0 + x1) / 2, y1 + pad / height, column.title, ha="center", va="bottom",
            fontsize=FONT_SIZE,
        )  # fmt: skip
    for i, label in enumerate(row_labels):
        x0, _, y0, y1 = box(i, 0)
        figure.text(
            x0 - pad / width, (y0 + y1) / 2, label, rotation=90, ha="right", va="center",
            multialignment="center", fontsize=FONT_SIZE,
        )  # fmt: skip
        if markers is not None and columns[0].tiles[i] is not None:
            _orientation_markers(figure, box(i, 0), markers)
    for j, column in enumerate(columns):
        for i in (i for i, tile in enumerate(column.tiles) if tile is None):
            x0, x1, y0, y1 = box(i, j)
            figure.text(
                (x0 + x1) / 2, (y0 + y1) / 2, "n/a", ha="center", va="center",
                color="#888888", fontsize=FONT_SIZE,
            )  # fmt: skip
    spans: dict[Scale, list[tuple[float, float]]] = {}
    for j, column in enumerate(columns):
        if any(t is not None for t in column.tiles):
            spans.setdefault(column.scale, []).append(box(0, j)[:2])
    for scale, where in spans.items():
        mappable = ScalarMappable(Normalize(scale.vmin, scale.vmax), colormaps[scale.cmap])
        bar = figure.colorbar(
            mappable, cax=_bar_axes(figure, where, height), orientation="horizontal"
        )
        bar.set_label(scale.label, fontsize=FONT_SIZE - 1)
        bar.ax.tick_params(labelsize=FONT_SIZE - 2)
    if title:
        figure.suptitle(title, fontsize=FONT_SIZE + 2, y=1.0 - 0.1 / height, va="top")
    return figure


def _fit_square(rgb: NDArray[np.uint8], side: int) -> NDArray[np.uint8]:
    """(h, w, 3) scaled by nearest neighbour so that its longer edge is ``side`` pixels."""
    h, w = rgb.shape[:2]
    factor = side / max(h, w)
    rows = np.minimum(((np.arange(max(1, round(h * factor))) + 0.5) / factor).astype(int), h - 1)
    cols = np.minimum(((np.arange(max(1, round(w * factor))) + 0.5) / factor).astype(int), w - 1)
    return rgb[rows[:, None], cols[None, :]]


def _bar_axes(figure: Figure, columns: Sequence[tuple[float, float]], height: float) -> Axes:
    """A colour bar's axes under the tiles of its scale (their (x0, x1) in figure fractions):
    80% of their span, centred, in the band below the grid (its label and ticks below it)."""
    x0, x1 = min(c[0] for c in columns), max(c[1] for c in columns)
    span = 0.8 * (x1 - x0)
    bottom = (BARS_IN - BAR_GAP_IN - BAR_IN) / height
    return figure.add_axes((x0 + 0.1 * (x1 - x0), bottom, span, BAR_IN / height))


def _orientation_markers(
    figure: Figure, box: tuple[float, float, float, float], labels: tuple[str, str, str, str]
) -> None:
    """The patient directions at the left, right, top and bottom edges of a tile's box
    ((x0, x1, y0, y1) in figure fractions)."""
    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    x0, x1, y0, y1 = box
    places = (
        (0.03, 0.5, "left", "center"),
        (0.97, 0.5, "right", "center"),
        (0.5, 0.97, "center", "top"),
        (0.5, 0.03, "center", "bottom"),
    )
    for label, (u, v, ha, va) in zip(labels, places, strict=True):
        figure.text(
            x0 + u * (x1 - x0),
            y0 + v * (y1 - y0),
            label,
            ha=ha,
            va=va,
            color="#ffd21f",
            fontsize=FONT_SIZE - 1,
            fontweight="bold",
            path_effects=outline,
        )


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes (Agg)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def figure_rgb(figure: Figure) -> NDArray[np.uint8]:
    """The figure as an (H, W, 3) uint8 array (Agg), e.g. for TensorBoard."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
