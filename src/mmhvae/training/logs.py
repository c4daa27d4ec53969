"""What a run writes besides checkpoints: CSV tables, TensorBoard events (scalars and the
sample grids as images) and PNG grids.

``losses.csv`` (one row per logging interval) and ``validation.csv`` (one row per
validation) start with ``step`` (optimiser steps done) and ``time`` (seconds of training);
the columns are fixed by the first row. On resume, rows after the checkpoint's step are
dropped (they are trained again) and TensorBoard purges its events after that step.
Only the main rank makes a RunLog that writes (``enabled``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmhvae.files import write_bytes_atomic
from mmhvae.runs import RunFolder

IMAGE_TAG = "val/samples"  # TensorBoard tag of the sample grids


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class RunLog:
    """Appends rows to the run's CSV tables and TensorBoard; no-op when not ``enabled``."""

    def __init__(self, run: RunFolder, resume_step: int | None, enabled: bool = True) -> None:
        self.run = run
        self.enabled = enabled
        self._writer: Any = None
        if not enabled:
            return
        if resume_step is not None:
            for path in (run.losses, run.validation):
                self._truncate(path, resume_step)
        from torch.utils.tensorboard import SummaryWriter  # heavy import: only on the main rank

        self._writer = SummaryWriter(str(run.tensorboard), purge_step=resume_step)

    def losses(self, step: int, time: float, values: dict[str, float]) -> None:
        self._row(self.run.losses, step, time, values, "train")

    def validation(self, step: int, time: float, values: dict[str, float]) -> None:
        self._row(self.run.validation, step, time, values, "val")

    def image(self, step: int, image: Image.Image) -> Path | None:
        """``images/step_NNNNNN.png`` and the same grid in TensorBoard (``val/samples``)."""
        if not self.enabled:
            return None
        path = self.run.images / f"step_{step:06d}.png"
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        write_bytes_atomic(path, buffer.getvalue())
        rgb = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
        self._writer.add_image(IMAGE_TAG, rgb, step, dataformats="HWC")
        self._writer.flush()
        return path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _row(self, path: Path, step: int, time: float, values: dict[str, float], tag: str) -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self._writer.add_scalar(f"{tag}/{key}", value, step)
        self._writer.flush()
        row = {"step": step, "time": round(time, 3), **values}
        new = not path.is_file() or path.stat().st_size == 0
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    @staticmethod
    def _truncate(path: Path, step: int) -> None:
        if not path.is_file():
            return
        with path.open(newline="", errors="replace") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            # a hand-edited row without a whole-number step is dropped, not a traceback
            rows = []
            for row in reader:
                done = _step(row)
                if done is not None and done <= step:
                    rows.append(row)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_bytes_atomic(path, buffer.getvalue().encode())


def _step(row: dict[str | None, Any]) -> int | None:
    """The row's ``step`` as an int, None when missing or not a whole number."""
    try:
        return int(str(row.get("step") or "").strip())
    except ValueError:
        return None
