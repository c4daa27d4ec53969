"""`mmhvae synthesize` end to end with the shared tiny run on real cases: geometry, names,
uncertainty, resume, overwrite, atomic writes and every bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import mmhvae
from mmhvae.cli.main import main
from mmhvae.config import Config
from mmhvae.data.case import load_case
from mmhvae.data.layouts import discover_cases
from mmhvae.data.preprocess import prepare_case
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import load_checkpoint, load_method, save_checkpoint
from mmhvae.synthesis.dataset import synthesize_dataset
from mmhvae.synthesis.slices import synthesize_slices

from .tiny_run import write_manifest

HEADER_FIELDS = (
    "dim",
    "qform_code",
    "sform_code",
    "srow_x",
    "srow_y",
    "srow_z",
    "quatern_b",
    "quatern_c",
    "quatern_d",
    "qoffset_x",
    "xyzt_units",
)


def _same_grid(written: Path, grid_of: Path, header_of: Path) -> None:
    """Shape, affine, orientation and spacing of ``grid_of``; the header of ``header_of`` (the
    case's reference volume: files of one case may disagree on their qform/sform codes)."""
    out, ref = nib.load(written), nib.load(grid_of)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.affine, ref.affine)
    assert nib.aff2axcodes(out.affine) == nib.aff2axcodes(ref.affine)
    # qfac and the three voxel sizes; pixdim[4:] belongs to axes a 3D image does not have
    np.testing.assert_array_equal(out.header["pixdim"][:4], ref.header["pixdim"][:4])
    header = nib.load(header_of).header
    for key in HEADER_FIELDS:
        np.testing.assert_array_equal(out.header[key], header[key], err_msg=key)
    assert out.get_data_dtype() == np.float32


@pytest.fixture(scope="module")
def synthesised(tiny_model: Path, two_cases: Path, tmp_path_factory: pytest.TempPathFactory):
    """One CLI run over both cases, two samples, t2 left out (so the complete case works too)."""
    out = tmp_path_factory.mktemp("synth")
    argv = [
        "synthesize",
        "--model",
        str(tiny_model),
        "--input",
        str(two_cases),
        "--output",
        str(out),
        "--samples",
        "2",
        "--leave-out",
        "t2",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    return out, {f.case_id: f for f in discover_cases(two_cases)}


def test_outputs_are_on_each_input_grid_with_its_header(synthesised) -> None:
    out, files = synthesised
    pat = files["brats2013-pat0005"]
    names = sorted(p.name for p in out.iterdir() if p.name.endswith(".nii.gz"))
    assert sorted(p.name for p in out.glob("*.json")) == [
        n.replace(".nii.gz", ".json") for n in names
    ]
    assert names == [
        "brats2013-pat0005_t1_synth.nii.gz",
        "brats2013-pat0005_t1_synth_std.nii.gz",
        "brats2013-pat0005_t2_synth.nii.gz",
        "brats2013-pat0005_t2_synth_std.nii.gz",
        "tcga-fg-6692_t2_synth.nii.gz",
        "tcga-fg-6692_t2_synth_std.nii.gz",
    ]
    for name in names[:4]:
        _same_grid(out / name, pat.images["flair"], pat.images["t1ce"])
    tcga = files["tcga-fg-6692"]
    _same_grid(out / "tcga-fg-6692_t2_synth.nii.gz", tcga.images["t2"], tcga.images["t1ce"])


def test_outputs_say_what_they_are(synthesised, tiny_model: Path) -> None:
    out, files = synthesised
    pat = files["brats2013-pat0005"]
    mean = out / "brats2013-pat0005_t1_synth.nii.gz"
    text = bytes(nib.load(mean).header["descrip"].item()).decode()
    assert text.startswith("mmhvae synthetic t1 from t1ce+flair; model run ")
    std_text = bytes(
        nib.load(out / "brats2013-pat0005_t1_synth_std.nii.gz").header["descrip"].item()
    )
    assert std_text.startswith(b"mmhvae synthetic t1 std from t1ce+flair")
    checkpoint = tiny_model / "checkpoints" / "last.pt"
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert text.endswith(digest[:8])
    record = json.loads((out / "brats2013-pat0005_t1_synth.json").read_text())
    assert record["synthetic"] is True and record["generator"] == "mmhvae"
    assert record["version"] == mmhvae.__version__ and record["modality"] == "t1"
    assert record["map"] == "mean" and record["model"]["method"] == "mmhvae"
    assert record["model"]["sha256"] == digest
    assert record["model"]["checkpoint"] == str(checkpoint.resolve())
    assert record["model"]["run"] == str(tiny_model.resolve())
    assert set(record["inputs"]) == {"t1ce", "flair", "mask"}
    for name, entry in record["inputs"].items():
        source = pat.mask if name == "mask" else pat.images[name]
        assert entry["path"] == str(Path(source).resolve())
        assert entry["sha256"] == hashlib.sha256(Path(source).read_bytes()).hexdigest()
    assert (record["temperature"], record["samples"], record["seed"]) == (0.7, 2, 0)
    created = datetime.strptime(record["created_utc"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs((datetime.utcnow() - created).total_seconds()) < 3600
    std_record = json.loads((out / "brats2013-pat0005_t1_synth_std.json").read_text())
    assert std_record["map"] == "std" and std_record["inputs"] == record["inputs"]


def test_synthetic_files_are_not_inputs_next_time(
    tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Written with the real names (--suffix "") into the input folder, the outputs are not
    taken as present modalities by a second run (nor by info) unless --allow-synthetic."""
    pat = discover_cases(write_manifest(shared_data, ("brats2013-pat0005",), tmp_path / "m.csv"))[0]
    case = tmp_path / "data" / "Case1"
    case.mkdir(parents=True)
    for m in ("t1ce", "flair"):
        (case / f"Case1_{m}.nii.gz").write_bytes(pat.images[m].read_bytes())
    common = ["synthesize", "--model", str(tiny_model), "--device", "cpu", "--suffix", ""]
    args = [*common, "--input", str(case.parent), "--output", str(tmp_path / "data")]
    assert main([*args, "--targets", "t2"]) == 0
    assert (case / "Case1_t2.nii.gz").is_file() and (case / "Case1_t2.json").is_file()
    (found,) = discover_cases(case.parent)
    assert set(found.images) == {"t1ce", "flair"} and set(found.synthetic) == {"t2"}
    (case / "Case1_t2.json").unlink()  # the header's descrip still marks it
    (found,) = discover_cases(case.parent)
    assert set(found.images) == {"t1ce", "flair"}
    (allowed,) = discover_cases(case.parent, allow_synthetic=True)
    assert set(allowed.images) == {"t1ce", "flair", "t2"}


def test_outputs_are_unit_range_and_zero_outside_the_brain(synthesised) -> None:
    out, files = synthesised
    brain = nib.load(files["brats2013-pat0005"].mask).get_fdata() > 0
    mean = nib.load(out / "brats2013-pat0005_t1_synth.nii.gz").get_fdata()
    std = nib.load(out / "brats2013-pat0005_t1_synth_std.nii.gz").get_fdata()
    assert mean.min() >= 0 and mean.max() <= 1 and mean[brain].max() > 0
    assert (mean[~brain] == 0).all() and (std[~brain] == 0).all()
    assert std.min() >= 0 and std[brain].mean() > 0


def test_existing_outputs_are_skipped_and_replaced_only_with_overwrite(
    synthesised, tiny_model: Path, two_cases: Path
) -> None:
    out, _ = synthesised
    kept = out / "tcga-fg-6692_t2_synth.nii.gz"
    path = out / "brats2013-pat0005_t1_synth.nii.gz"
    std = out / "brats2013-pat0005_t1_synth_std.nii.gz"
    for p in (kept, path, std):
        os.utime(p, (1, 1))
    again = synthesize_dataset(
        tiny_model, two_cases, out, leave_out=["t2"], n_samples=2, device="cpu", progress=False
    )
    assert again.written == [] and set(again.skipped) == {"tcga-fg-6692", "brats2013-pat0005"}
    assert kept.stat().st_mtime == 1 and path.stat().st_mtime == 1
    # a killed run: one file missing -> only that one is written, the others are kept
    # (t1 only, so that tcga-fg-6692, which has t1, has nothing to do)
    path.unlink()
    resumed = synthesize_dataset(
        tiny_model, two_cases, out, targets=["t1"], n_samples=2, device="cpu", progress=False
    )
    assert resumed.written == [path] and std.stat().st_mtime == 1
    assert resumed.skipped["tcga-fg-6692"].startswith("nothing to synthesise")
    os.utime(path, (1, 1))
    forced = synthesize_dataset(
        tiny_model,
        two_cases,
        out,
        targets=["t1"],
        n_samples=2,
        device="cpu",
        overwrite=True,
        progress=False,
    )
    assert forced.written == [path, std] and path.stat().st_mtime > 1 and std.stat().st_mtime > 1
    assert kept.stat().st_mtime == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_failed_write_leaves_no_partial_file(
    tiny_model: Path, two_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_save(image, filename):  # writes half a file, then the disk is "full"
        Path(filename).write_bytes(b"\x1f\x8b partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(nib, "save", broken_save)
    report = synthesize_dataset(
        tiny_model, two_cases, tmp_path, targets=["t1"], device="cpu", progress=False
    )
    assert "No space left" in report.failed["brats2013-pat0005"]
    assert list(tmp_path.iterdir()) == []


def test_uncertainty_is_zero_at_temperature_zero_and_grows_with_it(
    tiny_model: Path, two_cases: Path
) -> None:
    method, config, modalities = load_method(tiny_model)
    assert isinstance(config, Config)
    files = {f.case_id: f for f in discover_cases(two_cases)}["brats2013-pat0005"]
    prepared = prepare_case(
        load_case(files, modalities), modalities, config.model.image_size, config.data.spacing
    )
    middle = slice(70, 78)
    images, mask = prepared.images[:, middle], prepared.mask[middle]
    present = [m == "flair" for m in modalities]
    spreads = []
    for temperature in (0.0, 0.5, 1.0):
        options = SamplingOptions(temperature=temperature, samples=4)
        result = synthesize_slices(method, images, present, mask, options)
        assert result.std is not None
        spreads.append(float(result.std[:, mask].mean()))
    assert spreads[0] == 0.0
    assert 0.0 < spreads[1] < spreads[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["synthesize", "--device", "cpu", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_missing_and_corrupt_checkpoints_are_clear_errors(
    two_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _run(
        capsys,
        "--model",
        str(tmp_path / "nope"),
        "--input",
        str(two_cases),
        "--output",
        str(tmp_path / "o"),
    )
    assert code == 2 and "nope" in text and "not found" in text
    bad = tmp_path / "run" / "checkpoints" / "last.pt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a checkpoint")
    code, text = _run(
        capsys,
        "--model",
        str(tmp_path / "run"),
        "--input",
        str(two_cases),
        "--output",
        str(tmp_path / "o"),
    )
    assert code == 2 and str(bad) in text and "corrupt" in text
    assert not (tmp_path / "o").exists()


def test_a_3d_model_is_a_clear_error_not_a_traceback(
    tiny_model: Path, two_cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = load_checkpoint(tiny_model / "checkpoints" / "last.pt")
    state["config"]["model"]["spatial_dims"] = 3
    fake = tmp_path / "run3d" / "checkpoints" / "last.pt"
    fake.parent.mkdir(parents=True)
    save_checkpoint(fake, state)
    out = tmp_path / "o"
    code, text = _run(capsys, "--model", str(fake), "--input", str(two_cases), "--output", str(out))
    assert code == 2 and str(fake) in text and "model.spatial_dims=3: not supported" in text
    assert "Traceback" not in text and not out.exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--targets", "does not know"),
        ("--leave-out", "does not know"),
        ("--targets", "unknown modality"),
    ],
)
def test_unknown_modalities_are_refused_before_any_work(
    option: str,
    message: str,
    tiny_model: Path,
    two_cases: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = "pd" if message == "does not know" else "banana"
    code, text = _run(
        capsys,
        "--model",
        str(tiny_model),
        "--input",
        str(two_cases),
        "--output",
        str(tmp_path),
        option,
        value,
    )
    assert code == 2 and message in text and value in text
    assert list(tmp_path.iterdir()) == []


def test_bad_cases_are_reported_and_skipped_while_the_others_are_written(
    tiny_model: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_manifest(shared_data, ("brats2013-pat0005",), tmp_path / "good.csv")
    truncated = tmp_path / "truncated_flair.nii.gz"
    truncated.write_bytes(gzip.compress(b"\x00" * 4000)[:60])
    pd_only = tmp_path / "pd.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), pd_only)
    rows = good.read_text().strip().splitlines()
    rows += [f"broken,flair,{truncated},image", f"pdonly,pd,{pd_only},image"]
    manifest = tmp_path / "cases.csv"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    code, text = _run(
        capsys,
        "--model",
        str(tiny_model),
        "--input",
        str(manifest),
        "--output",
        str(out),
        "--targets",
        "t2",
    )
    assert code == 1
    assert "FAILED broken" in text and str(truncated) in text
    assert "FAILED pdonly" in text and "none of the model's modalities" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "brats2013-pat0005_t2_synth.json",  # its sidecar
        "brats2013-pat0005_t2_synth.nii.gz",
    ]
