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
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
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
    """
    n_rows, n_cols = len(row_labels), len(columns)
    if any(len(c.tiles) != n_rows for c in columns):
        raise ValueError(f"every column needs {n_rows} tiles (one per row)")
    if not any(t is not None for c in columns for t in c.tiles):
        raise ValueError("a montage needs at least one image")
    # A fixed layout in inches: matplotlib's constrained layout gave the same picture but took
    # ~1 s of the ~1.5 s a report montage costs (four per evaluated case and model).
    top = TITLES_IN + (SUPTITLE_IN if title else 0.0)
    lines = max(str(label).count("\n") + 1 for label in row_labels)
    labels = LABEL_IN + lines * LABEL_LINE_IN  # the row labels are turned 90 degrees
    width = labels + n_cols * tile_inches + (n_cols - 1) * GAP_IN + MARGIN_IN
    height = top + n_rows * tile_inches + (n_rows - 1) * GAP_IN + BARS_IN
    figure = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    axes = figure.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        gridspec_kw={
            "left": labels / width,
            "right": 1.0 - MARGIN_IN / width,
            "top": 1.0 - top / height,
            "bottom": BARS_IN / height,
            "wspace": GAP_IN / tile_inches,
            "hspace": GAP_IN / tile_inches,
        },
    )
    mappables: dict[Scale, AxesImage] = {}
    scale_axes: dict[Scale, list[Axes]] = {}
    for j, column in enumerate(columns):
        for i, tile in enumerate(column.tiles):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            scale_axes.setdefault(column.scale, []).append(ax)
            if i == 0:
                ax.set_title(column.title, fontsize=FONT_SIZE)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=FONT_SIZE)
            if tile is None:
                ax.set_facecolor("#f0f0f0")
                ax.text(
                    0.5,
                    0.5,
                    "n/a",
                    ha="center",
                    va="center",
                    color="#888888",
                    fontsize=FONT_SIZE,
                    transform=ax.transAxes,
                )
                continue
            image = np.nan_to_num(np.asarray(tile, dtype=np.float32))
            shown = ax.imshow(
                image,
                cmap=column.scale.cmap,
                vmin=column.scale.vmin,
                vmax=column.scale.vmax,
                interpolation="nearest",
            )
            mappables.setdefault(column.scale, shown)
            if markers is not None and j == 0:
                _orientation_markers(ax, markers)
    for scale, mappable in mappables.items():
        bar = figure.colorbar(
            mappable, cax=_bar_axes(figure, scale_axes[scale], height), orientation="horizontal"
        )
        bar.set_label(scale.label, fontsize=FONT_SIZE - 1)
        bar.ax.tick_params(labelsize=FONT_SIZE - 2)
    if title:
        figure.suptitle(title, fontsize=FONT_SIZE + 2, y=1.0 - 0.1 / height, va="top")
    return figure


def _bar_axes(figure: Figure, columns: Sequence[Axes], height: float) -> Axes:
    """A colour bar's axes under the tiles of its scale: 80% of their span, centred, in the
    band below the grid (its label and ticks below it)."""
    boxes = [ax.get_position() for ax in columns]
    x0, x1 = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    span = 0.8 * (x1 - x0)
    bottom = (BARS_IN - BAR_GAP_IN - BAR_IN) / height
    return figure.add_axes((x0 + 0.1 * (x1 - x0), bottom, span, BAR_IN / height))


def _orientation_markers(ax: Axes, labels: tuple[str, str, str, str]) -> None:
    """The patient directions at the tile's left, right, top and bottom edges."""
    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    places = (
        (0.03, 0.5, "left", "center"),
        (0.97, 0.5, "right", "center"),
        (0.5, 0.97, "center", "top"),
        (0.5, 0.03, "center", "bottom"),
    )
    for label, (x, y, ha, va) in zip(labels, places, strict=True):
        ax.text(
            x,
            y,
            label,
            ha=ha,
            va=va,
            color="#ffd21f",
            fontsize=FONT_SIZE - 1,
            fontweight="bold",
            transform=ax.transAxes,
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
