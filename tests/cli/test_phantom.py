"""``mmhvae phantom`` end to end through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmhvae.cli.main import main


def test_phantom_cli_writes_dataset_and_montage(tmp_path: Path) -> None:
    out, png = tmp_path / "ph", tmp_path / "montage.png"
    argv = [
        "phantom",
        str(out),
        "--cases",
        "2",
        "--missing-rate",
        "0",
        "--seed",
        "1",
        "--montage",
        str(png),
        "--no-progress",
    ]
    assert main(argv) == 0
    assert len(list(out.glob("Phantom_0000[01]/*.nii.gz"))) == 12
    with Image.open(png) as image:
        assert image.width > 5 * 99 and image.height > 3 * 117
    assert main(argv + ["--overwrite"]) == 0


def test_phantom_cli_refuses_non_empty_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("x")
    assert main(["phantom", str(tmp_path), "--cases", "1", "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["phantom", str(tmp_path / "n"), "--cases", "1", "--modalities", "t1,pet"]) == 2
