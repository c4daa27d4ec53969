"""``synthesize --format brasyn | nnunet``: exact file names, complete nnU-Net cases, byte-identical
copies, the inputs' affines, std maps in their own folder, the marker, and every refusal.

Small volumes (24 x 20 x 6 voxels) through the shared tiny run keep each synthesis under a
second."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests.data.volumes import brain_volume, oblique_affine, write_nifti

from mmhvae.data.case import load_case
from mmhvae.data.layouts import discover_cases
from mmhvae.errors import DataError, OutputExistsError
from mmhvae.output_folder import MARKER
from mmhvae.synthesis.case import SynthesisPlan
from mmhvae.synthesis.dataset import synthesize_dataset
from mmhvae.synthesis.formats import (
    CaseOutputs,
    NnunetChannels,
    OutputFormat,
    OutputLayout,
    case_outputs,
    check_copies,
)

SHAPE = (24, 20, 6)
AFFINE = oblique_affine(zooms=(4.0, 4.0, 6.0))
TOKENS = {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}


def brats_case(root: Path, case: str, modalities: tuple[str, ...], seed: int = 0) -> Path:
    """``root/case/case-{token}.nii.gz`` for each of ``modalities`` (BraTS 2023 naming)."""
    for i, modality in enumerate(modalities):
        volume = brain_volume(SHAPE, seed=seed + i)
        write_nifti(root / case / f"{case}-{TOKENS[modality]}.nii.gz", volume, AFFINE)
    return root / case


def checksums(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def run(model: Path, data: Path, out: Path, **options: object):
    return synthesize_dataset(model, data, out, device="cpu", progress=False, **options)


def test_brasyn_writes_the_missing_file_by_its_real_name(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    brats_case(data, "BraTS-GLI-00001-000", ("t1", "t1ce", "flair"))
    brats_case(data, "BraTS-GLI-00002-001", ("t1ce", "t2", "flair"), seed=5)
    before = checksums(data)
    out = tmp_path / "submission"
    report = run(tiny_model, data, out, format="brasyn", n_samples=2)
    assert not report.failed
    assert tree(out) == [
        MARKER,
        "BraTS-GLI-00001-000-t2w.nii.gz",
        "BraTS-GLI-00002-001-t1n.nii.gz",
        "provenance/BraTS-GLI-00001-000-t2w.json",
        "provenance/BraTS-GLI-00002-001-t1n.json",
        "std/BraTS-GLI-00001-000-t2w_std.json",
        "std/BraTS-GLI-00001-000-t2w_std.nii.gz",
        "std/BraTS-GLI-00002-001-t1n_std.json",
        "std/BraTS-GLI-00002-001-t1n_std.nii.gz",
    ]
    assert checksums(data) == before  # inputs neither touched nor copied
    written = nib.load(out / "BraTS-GLI-00001-000-t2w.nii.gz")
    real = nib.load(data / "BraTS-GLI-00001-000" / "BraTS-GLI-00001-000-t1c.nii.gz")
    assert written.shape == real.shape
    np.testing.assert_allclose(written.affine, real.affine, atol=1e-6)
    assert written.header["descrip"].tobytes().startswith(b"mmhvae synthetic t2 from")
    sidecar = json.loads((out / "provenance" / "BraTS-GLI-00001-000-t2w.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["modality"] == "t2"
    assert set(sidecar["inputs"]) == {"t1", "t1ce", "flair"}
    std = nib.load(out / "std" / "BraTS-GLI-00001-000-t2w_std.nii.gz")
    assert std.shape == real.shape and float(np.asarray(std.dataobj).max()) > 0


def test_brasyn_refuses_two_missing_and_non_brats_ids(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    brats_case(data, "BraTS-GLI-00003-000", ("t1ce", "flair"))
    brats_case(data, "BraTS-GLI-00004-000", ("t1", "t1ce", "t2"))
    # BraTS 2021 naming: no BraTS 2023 id to name the output by
    brats_case(data, "BraTS2021_00001", ("t1", "t1ce", "flair"))
    rows = [
        f"{path.parent.name},{path.name[-len('t1n.nii.gz') :][:3]},{path}"
        for path in sorted(data.rglob("*.nii.gz"))
    ]
    manifest = tmp_path / "cases.csv"
    manifest.write_text("case,modality,path\n" + "\n".join(rows) + "\n")
    report = run(tiny_model, manifest, tmp_path / "out", format="brasyn")
    assert "t1n, t2w are missing" in report.failed["BraTS-GLI-00003-000"]
    assert "exactly one" in report.failed["BraTS-GLI-00003-000"]
    assert "BraTS-GLI-XXXXX-YYY" in report.failed["BraTS2021_00001"]
    assert tree(tmp_path / "out") == [MARKER, "BraTS-GLI-00004-000-t2f.nii.gz"] + [
        "provenance/BraTS-GLI-00004-000-t2f.json"
    ]
    with pytest.raises(DataError, match="--targets does not apply"):
        run(tiny_model, data, tmp_path / "out3", format="brasyn", targets=["t2"])
    with pytest.raises(DataError, match="--suffix"):
        run(tiny_model, data, tmp_path / "out3", format="brasyn", suffix="_fake")


def dataset_json(path: Path, channels: dict[str, str], ending: str = ".nii.gz") -> Path:
    path.write_text(json.dumps({"channel_names": channels, "file_ending": ending}))
    return path


def nnunet_lists(folder: Path, ending: str) -> dict[str, list[str]]:
    """How nnU-Net v2 reads an input folder (nnunetv2/utilities/utils.py): the files ending in
    ``ending``, a case id = the name minus ``_XXXX{ending}``, its files ``{id}_\\d{4}{ending}``."""
    files = sorted(p.name for p in folder.iterdir() if p.name.endswith(ending))
    ids = sorted({name[: -(len(ending) + 5)] for name in files})
    pattern = {i: re.compile(re.escape(i) + r"_\d\d\d\d" + re.escape(ending)) for i in ids}
    return {i: [f for f in files if pattern[i].fullmatch(f)] for i in ids}


def test_nnunet_gives_every_channel_copied_or_synthesised(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    brats_case(data, "BraTS-GLI-00001-000", ("t1ce", "flair"))
    brats_case(data, "BraTS-GLI-00002-000", ("t1", "t1ce", "t2", "flair"), seed=3)
    spec = dataset_json(tmp_path / "dataset.json", {"0": "T1", "1": "T1c", "2": "T2", "3": "FLAIR"})
    out = tmp_path / "nn"
    report = run(tiny_model, data, out, format="nnunet", dataset_json=spec, n_samples=2)
    assert not report.failed and not report.skipped
    lists = nnunet_lists(out / "imagesTs", ".nii.gz")
    assert lists == {
        case: [f"{case}_{i:04d}.nii.gz" for i in range(4)]
        for case in ("BraTS-GLI-00001-000", "BraTS-GLI-00002-000")
    }
    images = out / "imagesTs"
    assert sorted(p.name for p in images.iterdir() if not p.name.endswith(".nii.gz")) == [
        "BraTS-GLI-00001-000_0000.json",  # sidecars of the synthesised channels only
        "BraTS-GLI-00001-000_0002.json",
    ]
    case = data / "BraTS-GLI-00001-000"
    for index, token in ((1, "t1c"), (3, "t2f")):
        copied = images / f"BraTS-GLI-00001-000_{index:04d}.nii.gz"
        source = case / f"BraTS-GLI-00001-000-{token}.nii.gz"
        assert copied.read_bytes() == source.read_bytes()
        assert not copied.is_symlink() and copied.stat().st_ino != source.stat().st_ino
    reference = nib.load(case / "BraTS-GLI-00001-000-t1c.nii.gz")
    for name in tree(images):
        if name.endswith(".nii.gz"):  # one grid for every channel of every case
            image = nib.load(images / name)
            assert image.shape == SHAPE
            np.testing.assert_allclose(image.affine, reference.affine, atol=1e-6)
    assert tree(out / "std") == [
        "BraTS-GLI-00001-000_0000_std.json",
        "BraTS-GLI-00001-000_0000_std.nii.gz",
        "BraTS-GLI-00001-000_0002_std.json",
        "BraTS-GLI-00001-000_0002_std.nii.gz",
    ]
    # mmhvae reads its own output back as an nnU-Net raw folder, synthetic files marked
    spec.rename(out / "dataset.json")
    found = {c.case_id: c for c in discover_cases(out)}
    assert set(found["BraTS-GLI-00001-000"].images) == {"t1ce", "flair"}
    assert set(found["BraTS-GLI-00001-000"].synthetic) == {"t1", "t2"}


def test_nnunet_refusals_name_the_channel_and_the_file(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    brats_case(data, "BraTS-GLI-00001-000", ("t1ce", "flair"))
    spec = dataset_json(tmp_path / "ct.json", {"0": "T1c", "1": "CT"})
    report = run(tiny_model, data, tmp_path / "a", format="nnunet", dataset_json=spec)
    message = report.failed["BraTS-GLI-00001-000"]
    assert "channel 0001 (ct)" in message and "ct.json" in message
    assert "neither among the case's files nor a modality the model synthesises" in message
    with pytest.raises(DataError, match="file_ending"):
        NnunetChannels.read(dataset_json(tmp_path / "mha.json", {"0": "T1"}, ".mha"))
    with pytest.raises(DataError, match="channel 0: unknown modality 'noNorm'"):
        NnunetChannels.read(dataset_json(tmp_path / "nonorm.json", {"0": "noNorm"}))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="broken.json: unreadable"):
        NnunetChannels.read(tmp_path / "broken.json")
    with pytest.raises(DataError, match="needs --dataset-json"):
        run(tiny_model, data, tmp_path / "b", format="nnunet")


def test_nnunet_copies_must_keep_format_and_grid(tmp_path: Path) -> None:
    """A .nii cannot be copied byte for byte into a .nii.gz dataset, and a channel off the
    case's grid (load_case resamples it, a copy would not be) would break nnU-Net."""
    case = tmp_path / "BraTS-GLI-00001-000"
    t1c = write_nifti(case / "BraTS-GLI-00001-000-t1c.nii.gz", brain_volume(SHAPE), AFFINE)
    shifted = AFFINE.copy()
    shifted[:3, 3] += 2.0
    t2f = write_nifti(case / "BraTS-GLI-00001-000-t2f.nii.gz", brain_volume(SHAPE, 1), shifted)
    nii = write_nifti(tmp_path / "t2.nii", brain_volume(SHAPE, 2), AFFINE)
    spec = NnunetChannels.read(dataset_json(tmp_path / "d.json", {"0": "T1c", "1": "FLAIR"}))
    layout = OutputLayout(OutputFormat.NNUNET, nnunet=spec)
    loaded = load_case(discover_cases(case)[0])
    plan = SynthesisPlan(("t1ce", "flair"), ())

    def outputs(copies: dict[str, Path]) -> CaseOutputs:
        return case_outputs(layout, "c", tmp_path / "o", plan, copies, False, lambda t: (t, None))

    check_copies(outputs({"t1ce": t1c}), loaded, ".nii.gz")
    with pytest.raises(DataError, match="t2f.nii.gz: on 24x20x6 .* one grid"):
        check_copies(outputs({"t1ce": t1c, "flair": t2f}), loaded, ".nii.gz")
    with pytest.raises(DataError, match="t2.nii: .* byte-for-byte copy"):
        check_copies(outputs({"flair": nii}), loaded, ".nii.gz")


def test_new_formats_write_only_into_a_folder_mmhvae_made(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    brats_case(data, "BraTS-GLI-00001-000", ("t1", "t1ce", "flair"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "BraTS-GLI-00001-000-t2w.nii.gz").write_bytes(b"the user's real scan")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="no .mmhvae-output marker"):
            run(tiny_model, data, mine, format="brasyn", overwrite=overwrite)
    assert (mine / "BraTS-GLI-00001-000-t2w.nii.gz").read_bytes() == b"the user's real scan"
    out = tmp_path / "out"
    run(tiny_model, data, out, format="brasyn")
    target = out / "BraTS-GLI-00001-000-t2w.nii.gz"
    first = target.read_bytes()
    forced = run(tiny_model, data, out, format="brasyn", seed=7, overwrite=True)
    assert forced.written == [target] and target.read_bytes() != first
    assert (out / MARKER).is_file()


def nnunet_raw(root: Path, train: tuple[str, ...], test: tuple[str, ...]) -> Path:
    """An nnU-Net raw dataset (t1ce and flair channels) with ``train`` and ``test`` cases."""
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T1c", "1": "FLAIR"}}))
    for folder, cases in (("imagesTr", train), ("imagesTs", test)):
        for seed, case in enumerate(cases):
            for channel in (0, 1):
                volume = brain_volume(SHAPE, seed=seed + channel)
                write_nifti(root / folder / f"{case}_{channel:04d}.nii.gz", volume, AFFINE)
    return root


def test_synthesize_reads_one_nnunet_split(tiny_model: Path, tmp_path: Path) -> None:
    from mmhvae.cli.main import main

    data = nnunet_raw(tmp_path / "raw", train=("a",), test=("z",))
    base = ["synthesize", "--model", str(tiny_model), "--input", str(data), "--device", "cpu"]
    base += ["--targets", "flair", "--leave-out", "flair", "--no-progress"]
    assert main([*base, "--output", str(tmp_path / "default")]) == 0  # imagesTs by default
    assert tree(tmp_path / "default") == ["z_0001_synth.json", "z_0001_synth.nii.gz"]
    assert main([*base, "--output", str(tmp_path / "tr"), "--split", "tr"]) == 0
    assert tree(tmp_path / "tr") == ["a_0001_synth.json", "a_0001_synth.nii.gz"]
