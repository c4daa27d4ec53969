"""Fine-tuning (training/init.py, ``train.init_from``, ``mmhvae train --init``): a run starts
from another model's weights, on the model's modalities, and a model that does not fit is
refused before anything is written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from tests.training.conftest import build_fake

from mmhvae.cli.main import main
from mmhvae.config import load_config
from mmhvae.errors import ConfigError
from mmhvae.methods import METHODS
from mmhvae.runs import load_method
from mmhvae.training.trainer import fit

FROZEN = ["train.lr=0.0", "train.gan=false"]  # lr 0: the weights stay what the run starts from


@pytest.fixture
def source(
    three_cases: Path, quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A trained fake-method run (two steps): the model to start from."""
    monkeypatch.setitem(METHODS, "fake", build_fake)
    config = load_config("tiny", [*quick, "method=fake", "train.steps=2", "train.gan=false"])
    fit(config, three_cases, tmp_path / "source")
    return tmp_path / "source"


def _two_contrast_case(three_cases: Path, folder: Path) -> Path:
    """The manifest of the one case of ``three_cases`` that has FLAIR and T1ce only."""
    with three_cases.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    images = {
        r["case"]: sum(x["case"] == r["case"] and x["kind"] == "image" for x in rows) for r in rows
    }
    case = next(c for c, n in images.items() if n == 2)
    path = folder / "two.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["case"] == case)
    return path


def test_a_run_starts_from_the_weights_of_another(
    source: Path, three_cases: Path, quick: list[str], tmp_path: Path
) -> None:
    start, _, _ = load_method(source)
    common = [*quick, *FROZEN, "method=fake", "train.steps=2"]
    tuned = fit(
        load_config("tiny", [*common, f"train.init_from={source}"]), three_cases, tmp_path / "a"
    )
    fresh = fit(load_config("tiny", common), three_cases, tmp_path / "b")
    for a, b in zip(start.parameters(), tuned.method.parameters(), strict=True):
        assert torch.equal(a, b)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(start.parameters(), fresh.method.parameters(), strict=True)
    )


def test_a_resumed_fine_tuning_run_continues_its_own_checkpoint(
    source: Path, three_cases: Path, quick: list[str], tmp_path: Path
) -> None:
    """Resuming must not go back to the starting model's weights: 2 + 1 steps equal 3."""
    common = [*quick, "method=fake", "train.gan=false", "train.cosine=false"]
    common += ["train.lr_warmup_steps=1", f"train.init_from={source}"]
    whole = fit(load_config("tiny", [*common, "train.steps=3"]), three_cases, tmp_path / "whole")
    fit(load_config("tiny", [*common, "train.steps=2"]), three_cases, tmp_path / "cut")
    resumed = fit(
        load_config("tiny", [*common, "train.steps=3"]), three_cases, tmp_path / "cut", resume=True
    )
    start, _, _ = load_method(source)
    for a, b, s in zip(
        whole.method.parameters(), resumed.method.parameters(), start.parameters(), strict=True
    ):
        assert torch.equal(a, b)
        assert not torch.equal(a, s)  # the steps moved the weights away from the start


def test_the_run_takes_the_models_modalities(
    source: Path, three_cases: Path, quick: list[str], tmp_path: Path
) -> None:
    """A dataset of FLAIR and T1ce fine-tunes the model's four modality slots."""
    two = _two_contrast_case(three_cases, tmp_path)
    common = [*quick, *FROZEN, "method=fake", "train.steps=1"]
    with pytest.warns(UserWarning, match="none held out"):
        fit(load_config("tiny", [*common, f"train.init_from={source}"]), two, tmp_path / "a")
    saved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert saved["data"]["modalities"] == ["t1", "t1ce", "t2", "flair"]
    with pytest.raises(ConfigError, match="modalities are t1, t1ce, t2, flair and this run's"):
        fit(
            load_config(
                "tiny", [*common, f"train.init_from={source}", "data.modalities=t1ce,flair"]
            ),
            two,
            tmp_path / "b",
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [("method=unet", "it is a 'fake' model and this run trains 'unet'"),
     ("model.channels=[8,16,32,64,128]", "architecture differs from this run's in model.channels")],
)  # fmt: skip
def test_a_model_that_does_not_fit_is_refused_before_any_file(
    source: Path, three_cases: Path, quick: list[str], tmp_path: Path, override: str, message: str
) -> None:
    config = load_config("tiny", [*quick, "method=fake", f"train.init_from={source}", override])
    with pytest.raises(ConfigError, match=message):
        fit(config, three_cases, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_init_trains_with_the_models_own_config(
    source: Path, three_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["train", "--init", str(source), "--data", str(three_cases), "--out", str(run)]
    assert main([*argv, "--set", "train.steps=1", "--set", "train.lr=0"]) == 0
    saved = load_config(str(run / "config.yaml"))
    model = load_config(str(source / "config.yaml"))
    assert saved.method == "fake" and saved.model == model.model
    assert saved.train.init_from == str(source) and saved.train.steps == 1
    assert saved.data.cache_dir == ""  # this run's own cache, not the model's
    assert model.data.cache_dir != ""
    assert main([*argv, "--resume"]) == 2
    assert "--init starts a new run" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--init",
                "nosuchmodel",
                "--data",
                str(three_cases),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "nosuchmodel: no such run folder, checkpoint or shipped model" in capsys.readouterr().err
