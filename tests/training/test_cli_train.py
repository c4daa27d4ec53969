"""``mmhvae train`` end to end on real slices, and the config rules it relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mmhvae.cli.main import main
from mmhvae.config import load_config, save_config
from mmhvae.errors import ConfigError
from mmhvae.runs import load_method


def test_unknown_keys_are_refused_and_values_coerced() -> None:
    with pytest.raises(ConfigError, match="unknown config key.*nope"):
        load_config("tiny", ["train.nope=1"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config("tiny", ["train.steps=many"])
    config = load_config("tiny", ["train.lr=1e-4", "train.steps=12.0", "data.modalities=t1,t2"])
    assert config.train.lr == 1e-4 and isinstance(config.train.lr, float)
    assert config.train.steps == 12 and isinstance(config.train.steps, int)
    assert config.data.modalities == ("t1", "t2")


def test_a_number_or_a_list_and_a_number_or_null_are_coerced_and_checked(tmp_path: Path) -> None:
    config = load_config("tiny", ["model.encoder_blocks=[0, 1, 1, 1, 1]", "model.head_blocks=0"])
    assert config.model.encoder_blocks == (0, 1, 1, 1, 1) and config.model.head_blocks == 0
    assert load_config("tiny", ["model.encoder_blocks=2"]).model.encoder_blocks == 2
    assert load_config("tiny", ["model.head_blocks=null"]).model.head_blocks is None
    for bad, expected in [
        ("model.encoder_blocks=many", "an integer or a list"),
        ("model.encoder_blocks=[1, x]", "an integer or a list"),
        ("model.encoder_blocks=null", "a value is required"),
        ("model.head_blocks=1.5", "an integer or null"),
        ("model.head_blocks=[1]", "an integer or null"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            load_config("tiny", [bad])
    saved = tmp_path / "config.yaml"  # a saved run config reads back the same
    save_config(config, saved)
    assert load_config(str(saved)) == config


def test_cli_train_writes_a_complete_run_folder(
    three_cases: Path, quick: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    sets = [*quick, "train.steps=3", "train.gan=true", "train.disc_start=0", "train.gan_start=1"]
    argv = ["train", "--data", str(three_cases), "--config", "tiny", "--out", str(run)]
    argv += [arg for item in sets for arg in ("--set", item)] + ["--method", "mmhvae"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert str(run) in printed and "validation loss" in printed
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["steps"] == 3 and saved["model"]["image_size"] == 96
    assert (run / "checkpoints" / "last.pt").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert [p.name for p in (run / "images").iterdir()] == ["step_000003.png"]
    header = (run / "losses.csv").read_text().splitlines()[0].split(",")
    for column in ("step", "time", "loss", "recon", "kl", "gan_g", "disc", "lr", "kl_weight"):
        assert column in header
    assert len((run / "losses.csv").read_text().splitlines()) == 4
    method, config, modalities = load_method(run)
    assert config == load_config(str(run / "config.yaml"))
    assert modalities == ("t1", "t1ce", "t2", "flair") and method.modalities == modalities
    # the same command again must not clobber the run
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv[:2], str(three_cases), "--out", str(run), "--set", "train.nope=1"]) == 2


def test_3d_is_refused_before_any_work(
    three_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["train", "--data", str(three_cases), "--config", "tiny", "--out", str(run)]
    assert main([*argv, "--set", "model.spatial_dims=3"]) == 2
    captured = capsys.readouterr()
    assert "model.spatial_dims=3: not supported yet" in captured.err
    assert "Traceback" not in captured.err + captured.out and not run.exists()
