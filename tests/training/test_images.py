"""Training grids: mid-brain slices, the layout of the grid, and the grid in TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import RunFolder
from mmhvae.training.images import grid_rows, row_subsets, sample_grid
from mmhvae.training.logs import IMAGE_TAG, RunLog

from .conftest import FakeMethod

OPTIONS = SamplingOptions(temperature=0.7, seed=0)


def _batch(areas: list[int], side: int = 16) -> dict:
    v, m = len(areas), 2
    mask = torch.zeros(v, 1, side, side, dtype=torch.bool)
    for i, area in enumerate(areas):
        mask.view(v, -1)[i, :area] = True
    images = torch.where(mask[:, None], torch.rand(v, m, 1, side, side) * 2 - 1, -1.0)
    present = torch.tensor([[True, True]] * (v - 1) + [[True, False]])
    names = [f"case z{i}" for i in range(v)]
    return {"images": images, "present": present, "mask": mask, "names": names}


def test_grid_rows_are_the_slices_with_the_most_brain() -> None:
    # evenly spaced validation slices: skull base first, mid-brain in the middle
    batch = _batch([3, 40, 200, 180, 200, 10])
    rows, names = grid_rows(batch, 2)
    assert names == ["case z2", "case z4"]  # largest areas, ties by order, in batch order
    torch.testing.assert_close(rows["images"], batch["images"][[2, 4]])
    assert rows["mask"].shape == (2, 1, 16, 16) and rows["present"].shape == (2, 2)
    assert grid_rows(batch, 10)[1] == batch["names"]  # fewer slices than asked: all


def test_sample_grid_has_a_row_per_slice_and_subset() -> None:
    method = FakeMethod(("t1", "t2"))
    batch = _batch([200, 150])
    rows, names = grid_rows(batch, 2)
    assert [s.tolist() for s in row_subsets(rows["present"][0])] == [
        [True, True],
        [True, False],
        [False, True],
    ]
    grid = sample_grid(method, rows, names, OPTIONS)
    small = sample_grid(method, {k: v[:1] for k, v in rows.items()}, names[:1], OPTIONS)
    assert isinstance(grid, Image.Image) and grid.mode == "RGB"
    # 3 + 1 rows (the second slice has t1 only) against 3; 4 columns of ~170 px tiles
    assert grid.height > small.height + 150 and grid.width > 4 * 150
    assert grid.width == small.width
    np.testing.assert_array_equal(
        np.asarray(grid), np.asarray(sample_grid(method, rows, names, OPTIONS))
    )


def test_run_log_writes_the_grid_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLog(RunFolder(tmp_path), resume_step=None)
    image = Image.fromarray(np.full((20, 30, 3), 128, np.uint8))
    path = log.image(7, image)
    log.close()
    assert path == tmp_path / "images" / "step_000007.png" and path.is_file()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert IMAGE_TAG in events.Tags()["images"]
    (shown,) = events.Images(IMAGE_TAG)
    assert shown.step == 7 and (shown.width, shown.height) == (30, 20)
    assert not RunLog(RunFolder(tmp_path / "off"), None, enabled=False).image(1, image)
