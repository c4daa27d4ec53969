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
    extra = 0.9 + (0.45 if title else 0.0)  # colour bars (and the title) below / above
    figure = Figure(
        figsize=(n_cols * tile_inches + 0.5, n_rows * tile_inches + extra),
        dpi=DPI,
        layout="constrained",
        facecolor="white",
    )
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
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
            mappable,
            ax=scale_axes[scale],
            location="bottom",
            shrink=0.8,
            aspect=25,
            pad=0.02,
        )
        bar.set_label(scale.label, fontsize=FONT_SIZE - 1)
        bar.ax.tick_params(labelsize=FONT_SIZE - 2)
    if title:
        figure.suptitle(title, fontsize=FONT_SIZE + 2)
    return figure


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
