"""Checkpoints: atomic round trip, weights_only loading, RNG states, and bad files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from mmhvae.config import Config, config_to_dict
from mmhvae.errors import CheckpointError
from mmhvae.runs import (
    capture_rng,
    load_checkpoint,
    resolve_checkpoint,
    restore_rng,
    save_checkpoint,
)


def _state() -> dict:
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adamax(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return {
        "format": 1,
        "method": "mmhvae",
        "modalities": ["t1", "flair"],
        "config": config_to_dict(Config()),
        "step": 7,
        "method_state": net.state_dict(),
        "disc_state": {},
        "opt_g": optimizer.state_dict(),
        "opt_d": {},
        "rng": capture_rng(),
        "extra": {"best_val": 0.25, "sums": torch.zeros(3)},
    }


def test_round_trip_keeps_everything_and_loads_weights_only(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, state)
    # weights_only=True must work: no pickled classes in a checkpoint
    raw = torch.load(path, weights_only=True)
    loaded = load_checkpoint(path)
    for got in (raw, loaded):
        assert got["step"] == 7 and got["modalities"] == ["t1", "flair"]
        assert got["config"] == state["config"]
        for key, value in state["method_state"].items():
            assert torch.equal(got["method_state"][key], value)
        assert got["opt_g"]["state"][0]["exp_avg"].equal(state["opt_g"]["state"][0]["exp_avg"])
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left


def test_rng_states_restore_the_same_draws(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "a.pt", {**_state(), "rng": capture_rng()})
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    restore_rng(load_checkpoint(tmp_path / "a.pt")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as info:
        load_checkpoint(tmp_path / "nope.pt")
    assert "nope.pt" in str(info.value)


def test_corrupt_file_raises_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_foreign_or_newer_files_are_refused(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="missing format"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint(tmp_path / "new.pt", {**_state(), "format": 99})
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(tmp_path / "new.pt")


def test_a_run_folder_resolves_to_its_last_checkpoint(tmp_path: Path) -> None:
    assert resolve_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.pt"
    assert resolve_checkpoint(tmp_path / "x.pt") == tmp_path / "x.pt"


def test_a_changed_value_fails_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw["checksum"], str) and len(raw["checksum"]) == 64
    raw["method_state"]["weight"][0, 0] += 1e-3  # a flipped bit in the weights
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="damaged") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    raw = torch.load(path, weights_only=True)
    raw["opt_g"]["state"][0]["step"] += 1  # the optimiser state that --resume would carry
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    state = _state()
    state["method_state"]["bias"][0] = float("nan")
    save_checkpoint(tmp_path / "nan.pt", state)
    with pytest.raises(CheckpointError, match=r"non-finite .* in method_state\.bias"):
        load_checkpoint(tmp_path / "nan.pt")


@pytest.mark.parametrize("step", ["12", "abc", -1, True, 3.5])
def test_a_badly_typed_step_is_not_a_valid_checkpoint(tmp_path: Path, step: object) -> None:
    save_checkpoint(tmp_path / "step.pt", {**_state(), "step": step})
    with pytest.raises(CheckpointError, match="not a valid mmhvae checkpoint"):
        load_checkpoint(tmp_path / "step.pt")


class _Gadget:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_a_pickle_gadget_is_refused_without_torch_unsafe_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save({**_state(), "extra": {"x": _Gadget()}}, tmp_path / "evil.pt")
    capsys.readouterr()
    with pytest.raises(CheckpointError, match="not a valid mmhvae checkpoint") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(info.value)
    assert "pickle code ran" not in capsys.readouterr().out
