"""`mmhvae demo` end to end at a toy budget: every stage runs and writes what it announces."""

from pathlib import Path

import pytest

from mmhvae.cli.main import main


def test_demo_runs_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--minutes", "0.05", "--train-cases", "3"]
    args += ["--test-cases", "2", "--device", "cpu", "--set", "train.val_slices=2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    # the model beside the floor and the reference
    assert "| run |" in printed and "| regression |" in printed and "| copy |" in printed
    for path in ("phantom.png", "run/checkpoints/last.pt", "run/config.yaml", "run/run.yaml"):
        assert (out / path).is_file(), path
    assert "method: regression" in (out / "regression" / "config.yaml").read_text()
    for name in ("per_case.csv", "summary.md", "summary.json", "report.html"):
        assert (out / "report" / name).is_file(), name
    # every modality a held-out case lacks was synthesised, and nothing else
    manifest = (out / "data" / "test" / "cases.csv").read_text().splitlines()[1:]
    present = {(r.split(",")[0], r.split(",")[1]) for r in manifest}
    cases = {case for case, _ in present}
    expected = {
        f"{case}_{m}_synth{ext}"  # each volume and its provenance sidecar
        for case in cases
        for m in ("t1", "t1ce", "t2", "flair")
        if (case, m) not in present
        for ext in (".nii.gz", ".json")
    }
    synthesis = out / "synthesis"
    written = {p.name for p in synthesis.iterdir()} if synthesis.is_dir() else set()
    assert written == expected


def test_demo_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--overwrite"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_overwrite_never_deletes_an_unmarked_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A thesis folder that happens to hold data/ and run/ is not a demo folder."""
    (tmp_path / "data").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("mine")
    (tmp_path / "thesis.tex").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--overwrite"]) == 2
    assert "no .mmhvae-output marker" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "mine"
    assert (tmp_path / "src" / "main.py").read_text() == "mine"
    assert (tmp_path / "data").is_dir() and (tmp_path / "run").is_dir()
