"""fit() on real slices: learning, exact resume, the non-finite stop, run-folder rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from tests.training.conftest import FakeMethod, build_fake

from mmhvae.config import load_config
from mmhvae.errors import MMHVAEError, OutputExistsError
from mmhvae.methods import METHODS
from mmhvae.runs import load_checkpoint, load_method
from mmhvae.training.trainer import fit

# cosine off: the schedule then does not depend on train.steps, so 2 + 2 steps equal 4
RESUMABLE = [
    "train.cosine=false",
    "train.lr_warmup_steps=1",
    "train.gan=true",  # tiny trains without it; the discriminators' state must resume too
    "train.disc_start=1",
    "train.gan_start=2",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def test_resumed_run_gives_the_same_next_losses(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fake method keeps this fast; the trainer's state (RNG streams, sampler position,
    # augmentation, optimisers, real discriminators, meter) is what must resume exactly
    monkeypatch.setitem(METHODS, "fake", build_fake)
    common = [*quick, *RESUMABLE, "method=fake"]
    whole = fit(load_config("tiny", [*common, "train.steps=4"]), three_cases, tmp_path / "whole")
    fit(load_config("tiny", [*common, "train.steps=2"]), three_cases, tmp_path / "cut")
    resumed = fit(
        load_config("tiny", [*common, "train.steps=4"]), three_cases, tmp_path / "cut", resume=True
    )
    expected, got = _rows(tmp_path / "whole" / "losses.csv"), _rows(tmp_path / "cut" / "losses.csv")
    assert [row["step"] for row in got] == ["1", "2", "3", "4"]
    assert float(got[3]["disc"]) > 0 and float(got[3]["gan_g"]) > 0  # the GAN ran after resume
    assert got == expected
    for a, b in zip(whole.method.parameters(), resumed.method.parameters(), strict=True):
        assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["step"] == 4


@pytest.mark.parametrize("context", [0, 1])
def test_short_run_lowers_the_validation_loss(
    three_cases: Path, quick: list[str], tmp_path: Path, context: int
) -> None:
    """context 1 (2.5D): the encoders read each slice with its neighbours in training, in
    validation and in the reloaded model."""
    config = load_config(
        "tiny",
        [
            *quick,
            f"model.context={context}",
            "train.steps=10",
            "train.lr_warmup_steps=1",
            "train.gan=false",
            # the KL of the tiny net is ~1e4 nats per slice against an L1 of ~0.15: within
            # 10 steps its warm-up weight alone moves the posterior; this checks learning
            "train.beta=0.0",
            "train.batch_size=4",
        ],
    )
    result = fit(config, three_cases, tmp_path / "run")
    assert result.validation["loss"] < result.first_validation["loss"]
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    method, saved, modalities = load_method(tmp_path / "run")
    assert saved == config and modalities == ("t1", "t1ce", "t2", "flair")
    assert method.context == context
    for a, b in zip(method.parameters(), result.method.parameters(), strict=True):
        assert torch.equal(a, b)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "fake", build_fake)
    monkeypatch.setattr(FakeMethod, "nan_after", 3)
    config = load_config(
        "tiny", [*quick, "method=fake", "train.steps=6", "train.checkpoint_every=2"]
    )
    run = tmp_path / "run"
    with pytest.raises(MMHVAEError, match="non-finite") as info:
        fit(config, three_cases, run)
    assert "step 4" in str(info.value) and "last.pt" in str(info.value)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 2
    assert all(bool(torch.isfinite(v).all()) for v in state["method_state"].values())
    assert [row["step"] for row in _rows(run / "losses.csv")] == ["1", "2", "3"]


def test_a_trained_run_is_not_reused_without_resume_or_overwrite(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "fake", build_fake)
    config = load_config("tiny", [*quick, "method=fake", "train.steps=2", "train.gan=false"])
    run = tmp_path / "run"
    fit(config, three_cases, run)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume"):
        fit(config, three_cases, run)
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    fit(config, three_cases, run, overwrite=True)
    assert [row["step"] for row in _rows(run / "losses.csv")] == ["1", "2"]


def test_overwrite_deletes_only_the_files_a_run_wrote(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "fake", build_fake)
    config = load_config("tiny", [*quick, "method=fake", "train.steps=2", "train.gan=false"])
    run = tmp_path / "run"
    fit(config, three_cases, run)
    assert (run / ".mmhvae-output").is_file()
    foreign = [run / "checkpoints" / "mine.pt", run / "images" / "figure.png"]
    foreign += [run / "tensorboard" / "notes.txt", run / "thesis.tex"]
    for path in foreign:
        path.write_text("keep me")
    fit(config, three_cases, run, overwrite=True)
    for path in foreign:
        assert path.read_text() == "keep me", path
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2


def test_overwrite_refuses_an_unmarked_folder_with_foreign_files(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "fake", build_fake)
    config = load_config("tiny", [*quick, "method=fake", "train.steps=2", "train.gan=false"])
    run = tmp_path / "run"
    fit(config, three_cases, run)
    (run / ".mmhvae-output").unlink()  # as a run of an older version, or a user's folder
    (run / "checkpoints" / "mine.pt").write_text("keep me")
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="no .mmhvae-output marker"):
        fit(config, three_cases, run, overwrite=True)
    assert (run / "checkpoints" / "mine.pt").read_text() == "keep me"
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_survives_a_hand_edited_losses_csv(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "fake", build_fake)
    config = load_config("tiny", [*quick, "method=fake", "train.steps=2", "train.gan=false"])
    run = tmp_path / "run"
    fit(config, three_cases, run)
    with (run / "losses.csv").open("a") as handle:
        handle.write("two,1.0,oops\n,,\n3,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n")
    longer = load_config("tiny", [*quick, "method=fake", "train.steps=3", "train.gan=false"])
    fit(longer, three_cases, run, resume=True)
    assert [row["step"] for row in _rows(run / "losses.csv")] == ["1", "2", "3"]
