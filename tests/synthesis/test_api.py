"""The Python API: the same volumes as the CLI, from paths, nibabel images or arrays; the
README's snippet runs as written (with real paths)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mmhvae import Synthesizer
from mmhvae.data.layouts import discover_cases
from mmhvae.errors import DataError
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import load_method
from mmhvae.synthesis.case import synthesize_case

README = Path(__file__).resolve().parents[2] / "README.md"


def _case_files(two_cases: Path):
    return {f.case_id: f for f in discover_cases(two_cases)}["brats2013-pat0005"]


def test_the_api_gives_what_synthesize_writes(tiny_model: Path, two_cases: Path) -> None:
    files = _case_files(two_cases)
    synth = Synthesizer.load(tiny_model, device="cpu")
    assert synth.modalities == ("t1", "t1ce", "t2", "flair")
    inputs = {m: files.images[m] for m in ("t1ce", "flair")}
    mask = np.asarray(nib.load(files.mask).dataobj) > 0
    out = synth(inputs, samples=2, seed=3, mask=mask)
    method, config, modalities = load_method(tiny_model)
    expected = synthesize_case(
        method, files, modalities, config, options=SamplingOptions(samples=2, seed=3)
    )
    assert set(out) == set(expected) == {"t1", "t2"}
    for target, (mean, std) in expected.items():
        np.testing.assert_allclose(out[target].mean, mean, atol=1e-5)
        assert std is not None and out[target].std is not None
        np.testing.assert_allclose(out[target].std, std, atol=1e-5)
    image = out["t2"].image()
    np.testing.assert_allclose(image.affine, nib.load(files.images["flair"]).affine, atol=1e-5)
    # numpy arrays with an affine give the same numbers as the paths
    arrays = {m: np.asarray(nib.load(p).dataobj, np.float32) for m, p in inputs.items()}
    affine = nib.load(inputs["flair"]).affine
    again = synth(arrays, affine=affine, samples=2, seed=3, mask=mask, targets=["t2"])
    assert set(again) == {"t2"}
    np.testing.assert_allclose(again["t2"].mean, out["t2"].mean, atol=1e-6)


def test_bad_inputs_are_named(tiny_model: Path) -> None:
    synth = Synthesizer.load(tiny_model, device="cpu")
    volume = np.random.default_rng(0).random((20, 20, 10)).astype(np.float32)
    with pytest.raises(DataError, match="needs affine"):
        synth({"t1": volume})
    with pytest.raises(DataError, match="the model knows"):
        synth({"us": volume}, affine=np.eye(4))
    with pytest.raises(DataError, match="not on the grid"):
        synth({"t1": volume, "t2": volume[:10]}, affine=np.eye(4))
    with pytest.raises(DataError, match="no input"):
        synth({})


def test_the_readme_snippet_runs(
    tiny_model: Path, two_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert snippet is not None
    files = _case_files(two_cases)
    code = (
        snippet.group(1)
        .replace('"runs/r1"', repr(str(tiny_model)))
        .replace('"t1ce.nii.gz"', repr(str(files.images["t1ce"])))
        .replace('"flair.nii.gz"', repr(str(files.images["flair"])))
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 (our own README)
    written = nib.load(tmp_path / "t2_synth.nii.gz")
    assert written.shape == nib.load(files.images["flair"]).shape
    assert os.path.getsize(tmp_path / "t2_synth.nii.gz") > 0
    assert np.asarray(namespace["spread"]).shape == written.shape


def test_predict_from_single_files(
    tiny_model: Path, two_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmhvae.cli.main import main

    files = _case_files(two_cases)
    argv = ["predict", "--model", str(tiny_model), "--t1ce", str(files.images["t1ce"])]
    argv += ["--flair", str(files.images["flair"]), "-o", str(tmp_path / "out"), "--samples", "2"]
    assert main([*argv, "--device", "cpu"]) == 0
    out = tmp_path / "out"
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [
        "std/t1_synth_std.json", "std/t1_synth_std.nii.gz",
        "std/t2_synth_std.json", "std/t2_synth_std.nii.gz",
        "t1_synth.json", "t1_synth.nii.gz", "t2_synth.json", "t2_synth.nii.gz",
    ]  # fmt: skip
    t2 = nib.load(tmp_path / "out" / "t2_synth.nii.gz")
    flair = nib.load(files.images["flair"])
    np.testing.assert_allclose(t2.affine, flair.affine, atol=1e-5)
    assert t2.shape == flair.shape
    assert t2.header["descrip"].tobytes().startswith(b"mmhvae synthetic")
    capsys.readouterr()
    assert main([*argv, "--device", "cpu"]) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["predict", "--model", str(tiny_model), "-o", str(tmp_path / "x")]) == 2
