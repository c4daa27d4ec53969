"""`mmhvae export` and shipped models: a run as one small file that synthesises the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmhvae.cli.main import main
from mmhvae.data.layouts import discover_cases
from mmhvae.errors import CheckpointError
from mmhvae.runs import PRETRAINED, load_checkpoint, pretrained_models, resolve_checkpoint
from mmhvae.synthesis.api import Synthesizer


def _t2_from_flair_t1ce(model: Path | str, two_cases: Path) -> np.ndarray:
    files = {f.case_id: f for f in discover_cases(two_cases)}["tcga-fg-6692"]
    inputs = {m: files.images[m] for m in ("t1ce", "flair")}
    out = Synthesizer.load(model)(inputs, targets=["t2"], temperature=0.0)
    return out["t2"].mean


def test_export_is_half_the_size_and_synthesises_the_same(
    tiny_model: Path, two_cases: Path, tmp_path: Path
) -> None:
    half, full = tmp_path / "half.pt", tmp_path / "full.pt"
    assert main(["export", "--model", str(tiny_model), "-o", str(half)]) == 0
    assert main(["export", "--model", str(tiny_model), "-o", str(full), "--float32"]) == 0
    state = load_checkpoint(half)
    assert {"opt_g", "opt_d", "disc_state", "rng"}.isdisjoint(state)
    weights = [v for v in state["method_state"].values() if v.is_floating_point()]
    assert weights and all(v.dtype == torch.float16 for v in weights)
    full_weights = load_checkpoint(full)["method_state"].values()
    assert sum(v.nbytes for v in weights) * 2 == sum(
        v.nbytes for v in full_weights if v.is_floating_point()
    )
    assert half.stat().st_size < full.stat().st_size  # (a micro model: mostly file overhead)
    reference = _t2_from_flair_t1ce(tiny_model, two_cases)
    np.testing.assert_array_equal(_t2_from_flair_t1ce(full, two_cases), reference)
    # float16 weights: the same image to a rounding error, not another model
    assert np.abs(_t2_from_flair_t1ce(half, two_cases) - reference).max() < 2e-2


def test_export_refuses_to_overwrite_or_to_write_onto_its_source(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.pt"
    out.write_bytes(b"mine")
    assert main(["export", "--model", str(tiny_model), "-o", str(out)]) == 2
    assert out.read_bytes() == b"mine" and "exists" in capsys.readouterr().err
    source = resolve_checkpoint(tiny_model)
    assert main(["export", "--model", str(tiny_model), "-o", str(source), "--overwrite"]) == 2
    assert "is the checkpoint being exported" in capsys.readouterr().err
    assert main(["export", "--model", str(tiny_model), "-o", str(tmp_path / "m.txt")]) == 2


def test_a_bare_name_is_a_shipped_model_or_a_clear_error(tmp_path: Path) -> None:
    for name in pretrained_models():
        assert resolve_checkpoint(name) == PRETRAINED / f"{name}.pt"
        assert (PRETRAINED / f"{name}.md").is_file(), f"{name} ships without a model card"
    with pytest.raises(CheckpointError, match="no such run folder, checkpoint or shipped model"):
        resolve_checkpoint("no-such-model")
    # a path that names a file keeps its own "not found" message
    assert resolve_checkpoint(tmp_path / "x.pt") == tmp_path / "x.pt"
