"""Every subcommand's --help shows an example and the defaults, and the shared flags read
the same everywhere."""

from __future__ import annotations

import pytest

from mmhvae.cli.main import COMMANDS, build_parser


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_ends_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, command)
    assert f"example:\n  mmhvae {command}" in text
    assert "(default: None)" not in text


def test_defaults_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    flat = " ".join(_help(capsys, "synthesize").split())  # argparse wraps lines
    assert "(default: _synth)" in flat
    assert "(default: tiny)" in " ".join(_help(capsys, "compare").split())


@pytest.mark.parametrize("command", ["train", "synthesize", "evaluate", "demo", "compare"])
def test_device_has_the_same_choices_everywhere(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--device {cpu,cuda}" in _help(capsys, command)


@pytest.mark.parametrize("command", ["info", "synthesize", "evaluate", "compare"])
def test_split_is_offered_where_data_is_read_for_inference(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--split {tr,ts}" in _help(capsys, command)


def test_train_has_no_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--split" not in _help(capsys, "train")  # training reads imagesTr, always
