from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmhvae.errors import OutputExistsError
from mmhvae.evaluation.report import (
    HOT,
    VIRIDIS_LIKE,
    axial_view,
    case_montage,
    choose_levels,
    colourise,
    montage,
    write_html_report,
)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_cell = tag in ("td", "th")
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)


def _volumes() -> dict[str, np.ndarray]:
    x, y, z = np.meshgrid(np.arange(40), np.arange(36), np.arange(12), indexing="ij")
    mask = ((x - 20) / 16) ** 2 + ((y - 18) / 14) ** 2 + ((z - 6) / 5) ** 2 < 1
    t1 = np.where(mask, x / 40, 0.0)
    t2 = np.where(mask, y / 36, 0.0)
    return {"mask": mask, "t1": t1, "t2": t2}


def test_colour_maps_hit_their_end_points() -> None:
    rgb = colourise(np.array([[0.0, 0.25, 0.5, 2.0]]), vmax=0.5, cmap=HOT)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 2].tolist() == [255, 255, 255]
    assert rgb[0, 3].tolist() == [255, 255, 255]  # clipped above vmax
    assert colourise(np.ones((1, 1)), 1.0, VIRIDIS_LIKE)[0, 0].tolist() == [253, 231, 37]


def test_axial_view_orientation() -> None:
    vol = np.zeros((4, 5, 2))
    vol[3, 4, 1] = 1  # far right (x), most anterior (y)
    view = axial_view(vol, 1)
    assert view.shape == (5, 4) and view[0, 3] == 1  # top row, right column


def test_montage_layout_and_no_overwrite(tmp_path: Path) -> None:
    grey = np.linspace(0, 1, 32 * 40).reshape(32, 40)
    rows = [("a", [grey, None]), ("b", [grey, colourise(grey, 1.0)])]
    path = montage(rows, ["grey", "colour"], tmp_path / "m.png")
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.height > 2 * 160 and im.width > 2 * 160 * 40 // 32
    with pytest.raises(OutputExistsError, match="m.png"):
        montage(rows, ["grey", "colour"], path)
    montage(rows, ["grey", "colour"], path, overwrite=True)
    with pytest.raises(ValueError, match="2 cells"):
        montage([("a", [grey])], ["grey", "colour"], tmp_path / "n.png")
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_case_montage_and_levels(tmp_path: Path) -> None:
    v = _volumes()
    levels = choose_levels(v["mask"], n=3)
    assert len(levels) == 3 and 6 in levels and levels == sorted(levels)
    tumour = np.zeros(v["mask"].shape, np.uint8)
    tumour[15:20, 15:20, 2:5] = 1
    assert choose_levels(v["mask"], tumour, n=1) == [3]
    assert all(2 <= z <= 4 for z in choose_levels(v["mask"], tumour, n=5))
    path = case_montage(
        inputs={"t1": v["t1"]},
        synthesised={"t2": v["t1"]},
        ground_truth={"t2": v["t2"]},
        uncertainty={"t2": None},
        levels=levels,
        path=tmp_path / "case.png",
    )
    with Image.open(path) as im:
        a = np.asarray(im)
    assert a.shape[0] > 3 * 160 and a.shape[1] > 5 * 160
    assert (a[..., 0] > a[..., 2] + 50).any()  # the HOT error map is there


def test_choose_levels_needs_a_brain() -> None:
    with pytest.raises(ValueError, match="empty"):
        choose_levels(np.zeros((4, 4, 4), bool))


@pytest.mark.parametrize("embed", [True, False])
def test_html_report(tmp_path: Path, embed: bool) -> None:
    grey = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    pngs = [montage([("r", [grey])], ["c"], tmp_path / "png" / f"m{i}.png") for i in range(2)]
    summary = "# Results\n\nOne sample.\n\n| target | psnr |\n|---|---|\n| flair | 25.1 |\n"
    page = write_html_report(
        tmp_path / "report.html", "Run <1>", summary, pngs, {"temperature": 0.7}, embed=embed
    )
    text = page.read_text()
    parser = _Collect()
    parser.feed(text)
    parser.close()
    assert {"html", "h1", "table", "img", "figure"} <= set(parser.tags)
    assert "Run &lt;1&gt;" in text
    assert {"target", "psnr", "flair", "25.1", "temperature", "0.7000"} <= set(parser.cells)
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
