from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from nibabel import orientations
from PIL import Image

from mmhvae.data.case import Case
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.data.preprocess import prepare_case
from mmhvae.errors import OutputExistsError
from mmhvae.evaluation.report import (
    axial_view,
    choose_levels,
    render_markdown,
    target_montage,
    write_html_report,
)
from mmhvae.evaluation.summary import markdown_table, summarise
from mmhvae.figures import RADIOLOGICAL, Column, Scale, figure_png, figure_rgb, montage_figure


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self.captions: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in = tag
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in in ("td", "th"):
            self.cells.append(data)
        elif self._in == "figcaption":
            self.captions.append(data)


def _volumes() -> dict[str, np.ndarray]:
    x, y, z = np.meshgrid(np.arange(40), np.arange(36), np.arange(12), indexing="ij")
    mask = ((x - 20) / 16) ** 2 + ((y - 18) / 14) ** 2 + ((z - 6) / 5) ** 2 < 1
    t1 = np.where(mask, x / 40, 0.0)
    t2 = np.where(mask, y / 36, 0.0)
    return {"mask": mask, "t1": t1, "t2": t2}


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_axial_view_is_radiological() -> None:
    vol = np.zeros((4, 5, 2))  # RAS: +x towards the patient's right, +y anterior
    vol[3, 4, 1] = 1  # the patient's far right, most anterior
    view = axial_view(vol, 1)
    # radiological: the patient's right on the viewer's left, anterior at the top
    assert view.shape == (5, 4) and view[0, 0] == 1 and view.sum() == 1


@pytest.mark.parametrize("axcodes", [("R", "A", "S"), ("L", "P", "S"), ("P", "S", "R")])
def test_report_shows_slices_as_the_model_sees_them(axcodes: tuple[str, str, str]) -> None:
    """data/preprocess.py lays slices out (S, H, W) anterior->posterior, right->left: the
    report's view of the same RAS volume must be the very same image, whatever the file's
    voxel order."""
    rng = np.random.default_rng(0)
    ras = rng.random((6, 6, 4)).astype(np.float32) + 0.5  # no background at all
    ras_ornt = orientations.axcodes2ornt(("R", "A", "S"))
    to_file = orientations.ornt_transform(ras_ornt, orientations.axcodes2ornt(axcodes))
    image = nib.Nifti1Image(ras, np.eye(4)).as_reoriented(to_file)
    data, affine = np.asarray(image.dataobj), image.affine
    files = CaseFiles("c", {}, None, None, Layout.CSV)
    everywhere = np.ones(data.shape, bool)  # the whole field of view is brain: nothing cropped
    header = nib.Nifti1Header()
    case = Case("c", {"t1": data}, affine, header, data.shape, None, everywhere, files, "t1")
    assert nib.aff2axcodes(affine) == axcodes
    prepared = prepare_case(case, ["t1"], image_size=6)
    shown = np.stack([axial_view(ras, z) for z in range(4)])
    order = np.argsort(np.argsort(ras.ravel())).reshape(ras.shape)  # normalisation is monotone
    ranks = np.stack([axial_view(order, z) for z in range(4)])
    assert shown.shape == prepared.images[0].shape
    model_ranks = np.argsort(np.argsort(prepared.images[0].ravel())).reshape(shown.shape)
    np.testing.assert_array_equal(model_ranks, ranks)


def _tile_box(figure, i: int, j: int, n_rows: int, n_cols: int) -> tuple[int, int, int, int]:
    """Tile (i, j)'s (y0, y1, x0, x1) pixel box in the rendered figure (rows from the top)."""
    (image,) = figure.images  # the tiles, pasted as one image
    h, w = image.get_array().shape[:2]
    cell_h, cell_w = (h + 6) // n_rows - 6, (w + 6) // n_cols - 6  # 6 px gaps (GAP_IN)
    top = int(figure.bbox.height) - image.oy - h
    y0, x0 = top + i * (cell_h + 6), image.ox + j * (cell_w + 6)
    return y0, y0 + cell_h, x0, x0 + cell_w


def test_montage_layout_keeps_every_label_inside_and_bars_under_their_columns() -> None:
    """The fixed layout (no constrained layout): every text on the canvas, the colour bars
    below the tiles and under their own columns, none overlapping another."""
    grey = np.linspace(0, 1, 48 * 40).reshape(48, 40)
    error = Scale("|error|", "inferno", 0, 0.5)
    std = Scale("std over 10 samples", "viridis", 0, 0.1)
    columns = [Column(f"input {m}", [grey] * 3) for m in ("t1", "t1ce", "flair")]
    columns += [Column("|synthesis - truth|", [grey] * 3, error), Column("std", [grey] * 3, std)]
    labels = ["case 1\nfrom t1+t1ce", "z = 2", "z = 3"]
    figure = montage_figure(columns, labels, title="brats-tiny · Brats18_2013_11_1 · t2")
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox
    texts = list(figure.texts) + [ax.xaxis.label for ax in figure.axes]
    texts += [t.label1 for ax in figure.axes for t in ax.xaxis.get_major_ticks()]
    for text in texts:
        if text is None or not text.get_text() or not text.get_visible():
            continue
        extent = text.get_window_extent(renderer)
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()
    titles = {t.get_text(): t.get_window_extent(renderer) for t in figure.texts}
    rows = [titles[label] for label in labels]
    assert all(r.x1 < figure.images[0].ox for r in rows)  # row labels left of the tiles
    bars = figure.axes
    assert len(bars) == 3
    height = box.height
    lowest = figure.images[0].oy / height  # the tiles' bottom edge, in figure fractions
    spans = []
    for bar, cols in zip(bars, ([0, 1, 2], [3], [4]), strict=True):
        where = bar.get_position()
        assert where.y1 < lowest
        under = [_tile_box(figure, 0, c, 3, 5) for c in cols]
        assert min(u[2] for u in under) <= where.x0 * box.width
        assert where.x1 * box.width <= max(u[3] for u in under)
        spans.append((where.x0, where.x1))
    assert all(a[1] < b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))


def test_montage_figure_has_colour_bars_titles_markers_and_the_tiles_colours() -> None:
    grey = np.linspace(0.1, 0.9, 32 * 40).reshape(32, 40)  # never white: the tile's extent
    error = Scale("|error|", "inferno", 0, 0.5)
    columns = [
        Column("input t1", [grey, grey]),
        Column("truth", [grey, None]),
        Column("|error|", [grey / 2, grey / 4], error),
    ]
    figure = montage_figure(columns, ["z = 1", "z = 2"], title="a title")
    bars = figure.axes
    assert len(bars) == 2  # one colour bar per scale (grey, error)
    assert {b.get_xlabel() for b in bars} == {"intensity (normalised, 0-1)", "|error|"}
    texts = [t.get_text() for t in figure.texts]
    assert texts[:3] == ["input t1", "truth", "|error|"]
    assert texts.count("n/a") == 1 and "z = 1" in texts and "z = 2" in texts
    markers = [t for t in figure.texts if t.get_text() in RADIOLOGICAL]
    assert len(markers) == 2 * 4  # on the first tile of each row only
    first = {t.get_text(): t.get_position() for t in markers[:4]}
    assert first["R"][0] < first["L"][0] and first["A"][1] > first["P"][1]
    _, _, x0, x1 = _tile_box(figure, 0, 0, 2, 3)
    inside = [x0 <= p[0] * figure.bbox.width <= x1 for p in first.values()]
    assert all(inside)  # on the first column's tile
    assert figure.get_suptitle() == "a title"
    assert figure_png(figure)[:8] == b"\x89PNG\r\n\x1a\n"
    # the pixels: each tile in its column's colours, the tile's aspect kept, "n/a" grey
    rgb = figure_rgb(figure)
    y0, y1, x0, x1 = _tile_box(figure, 0, 0, 2, 3)
    side = y1 - y0  # a 32 x 40 tile fills the cell's width and 32/40 of its height
    inner = np.flatnonzero((rgb[y0:y1, x0 + side // 4] != 255).any(axis=1))  # off the markers
    assert abs(len(inner) - round(side * 32 / 40)) <= 1 and np.all(np.diff(inner) == 1)
    assert abs(inner[0] - (side - len(inner)) // 2) <= 1  # centred in its cell

    def colour(cmap: str, value: float, top: float = 1.0) -> np.ndarray:
        return np.asarray(colormaps[cmap](Normalize(0, top)(value), bytes=True)[:3])

    bottom = y0 + inner[-1]
    np.testing.assert_array_equal(rgb[y0 + inner[0], x0], colour("gray", grey[0, 0]))
    np.testing.assert_array_equal(rgb[bottom, x1 - 1], colour("gray", grey[-1, -1]))
    ey0, _, _, ex1 = _tile_box(figure, 1, 2, 2, 3)  # the error column, second row: grey / 4
    expected = colour("inferno", grey[-1, -1] / 4, 0.5)
    np.testing.assert_array_equal(rgb[ey0 + inner[-1], ex1 - 1], expected)
    ny0, ny1, nx0, nx1 = _tile_box(figure, 1, 1, 2, 3)
    np.testing.assert_array_equal(rgb[ny0 + 2, nx0 + 2], [0xF0] * 3)  # the "n/a" tile
    with pytest.raises(ValueError, match="2 tiles"):
        montage_figure([Column("a", [grey])], ["r1", "r2"])
    with pytest.raises(ValueError, match="at least one image"):
        montage_figure([Column("a", [None])], ["r1"])


def test_target_montage_and_levels(tmp_path: Path) -> None:
    v = _volumes()
    levels = choose_levels(v["mask"], n=3)
    assert len(levels) == 3 and 6 in levels and levels == sorted(levels)
    tumour = np.zeros(v["mask"].shape, np.uint8)
    tumour[15:20, 15:20, 2:5] = 1
    assert choose_levels(v["mask"], tumour, n=1) == [3]
    assert all(2 <= z <= 4 for z in choose_levels(v["mask"], tumour, n=5))
    common = dict(inputs={"t1": v["t1"]}, synthesis=v["t1"], truth=v["t2"], levels=levels)
    plain = target_montage(tmp_path / "plain.png", "t2 from t1", **common)  # type: ignore[arg-type]
    full = target_montage(
        tmp_path / "full.png",
        "t2 from t1",
        copy=("t1", v["t1"]),
        std=np.abs(v["t1"] - v["t2"]),
        samples=4,
        **common,  # type: ignore[arg-type]
    )
    a, b = _png(plain), _png(full)
    assert a.shape[0] > 3 * 150  # three rows of legible tiles
    assert b.shape[1] > a.shape[1] * 1.3  # + the copy and the std columns
    warm = (a[..., 0].astype(int) > a[..., 2].astype(int) + 60).any()
    assert warm  # the inferno error map is there
    with pytest.raises(OutputExistsError, match="plain.png"):
        target_montage(tmp_path / "plain.png", "again", **common)  # type: ignore[arg-type]
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_choose_levels_needs_a_brain() -> None:
    with pytest.raises(ValueError, match="empty"):
        choose_levels(np.zeros((4, 4, 4), bool))


def test_markdown_is_rendered_by_a_real_renderer() -> None:
    text = "Intro with `code` and a <b>tag</b>.\n\n- **temperature**: 0.7\n- seed: 0\n"
    page = render_markdown(text)
    assert "<li><strong>temperature</strong>: 0.7</li>" in page
    assert "<code>code</code>" in page and "`" not in page
    assert "&lt;b&gt;tag&lt;/b&gt;" in page and "<b>" not in page
    assert "- " not in page


def test_no_spread_for_a_single_case() -> None:
    rows = [
        {"model": "m", "case": "a", "target": "t2", "psnr": 20.0},
        {"model": "m", "case": "a", "target": "flair", "psnr": 22.0},
    ]
    one = markdown_table(summarise(rows, ["target"]), ["target"])
    assert "±" not in one and "| 20.00 |" in one
    rows.append({"model": "m", "case": "b", "target": "t2", "psnr": 24.0})
    two = markdown_table(summarise(rows, ["target"]), ["target"])
    assert "22.00 ± 2.83" in two and "| 22.00 |" in two  # flair still has one case


@pytest.mark.parametrize("embed", [True, False])
def test_html_report(tmp_path: Path, embed: bool) -> None:
    v = _volumes()
    pngs = [
        target_montage(tmp_path / "png" / f"m{i}.png", "t", {"t1": v["t1"]}, v["t1"], None, [6])
        for i in range(2)
    ]
    summary = "One sample.\n\n| target | psnr |\n|---|---|\n| flair | 25.1 |\n"
    page = write_html_report(
        tmp_path / "report.html",
        "Run <1>",
        summary,
        pngs,
        {"temperature": 0.7},
        embed=embed,
        captions=["first", "second"],
    )
    text = page.read_text()
    parser = _Collect()
    parser.feed(text)
    parser.close()
    assert {"html", "h1", "table", "img", "figure"} <= set(parser.tags)
    assert parser.tags.count("h1") == 1 and "Run &lt;1&gt;" in text
    assert {"target", "psnr", "flair", "25.1", "temperature", "0.7000"} <= set(parser.cells)
    assert parser.captions == ["first", "second"]
    assert "radiological convention" in text
    assert len(parser.images) == 2
    for src, png in zip(parser.images, pngs, strict=True):
        if embed:
            assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()
        else:
            assert (page.parent / src).resolve() == png.resolve()
    with pytest.raises(OutputExistsError):
        write_html_report(page, "t", [], [], {})


def test_html_report_from_rows(tmp_path: Path) -> None:
    rows = [{"method": "mmhvae", "psnr": 25.123456}, {"method": "copy", "psnr": 20.0}]
    page = write_html_report(tmp_path / "r.html", "t", rows, [], {"seed": 0})
    parser = _Collect()
    parser.feed(page.read_text())
    assert {"method", "mmhvae", "25.1235", "copy", "20.0000", "seed", "0"} <= set(parser.cells)
    assert "img" not in parser.tags
