"""The written dataset: layout, manifest, missingness, determinism, overwrite, read-back."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mmhvae.errors import ConfigError, OutputExistsError
from mmhvae.phantom.generate import choose_present, make_phantom_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "out"
    make_phantom_dataset(out, 3, missing_rate=0.4, seed=5, progress=False)
    return out


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "cases.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_layout_and_manifest_agree(dataset: Path) -> None:
    rows = _manifest(dataset)
    assert list(rows[0]) == ["case", "modality", "path", "kind", "note"]
    listed = {dataset / r["path"] for r in rows}
    on_disk = set(dataset.glob("Phantom_*/*.nii.gz"))
    assert listed == on_disk
    for row in rows:
        assert row["path"] == f"{row['case']}/{row['case']}_{row['modality']}.nii.gz"
    cases = sorted({r["case"] for r in rows})
    assert cases == ["Phantom_00000", "Phantom_00001", "Phantom_00002"]
    for case in cases:
        kinds = [r["kind"] for r in rows if r["case"] == case]
        assert kinds.count("seg") == 1 and kinds.count("image") >= 1
    assert (dataset / "phantom.json").is_file() and (dataset / "README.md").is_file()


def test_volumes_share_one_grid(dataset: Path) -> None:
    for folder in dataset.glob("Phantom_*"):
        images = [nib.load(p) for p in sorted(folder.glob("*.nii.gz"))]
        for image in images:
            assert image.shape == images[0].shape
            np.testing.assert_allclose(image.affine, images[0].affine)  # type: ignore[attr-defined]
        seg = np.asarray(nib.load(folder / f"{folder.name}_seg.nii.gz").dataobj)  # type: ignore[attr-defined]
        assert set(np.unique(seg).tolist()) <= {0, 1, 2, 4}


def test_choose_present_keeps_at_least_one() -> None:
    rng = np.random.default_rng(0)
    modalities = ("t1", "t1ce", "t2", "flair", "us")
    draws = [choose_present(modalities, 0.9, rng) for _ in range(300)]
    assert all(len(d) >= 1 for d in draws)
    rate = 1 - np.mean([len(choose_present(modalities, 0.3, rng)) for _ in range(2000)]) / 5
    assert rate == pytest.approx(0.3, abs=0.03)
    assert choose_present(modalities, 0.0, rng) == modalities


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = make_phantom_dataset(tmp_path / "a", 1, ("t1", "us"), 0.0, seed=7, progress=False)
    b = make_phantom_dataset(tmp_path / "b", 1, ("t1", "us"), 0.0, seed=7, progress=False)
    c = make_phantom_dataset(tmp_path / "c", 1, ("t1", "us"), 0.0, seed=8, progress=False)
    for name in ("Phantom_00000_t1.nii.gz", "Phantom_00000_us.nii.gz"):
        first = (a.parent / "Phantom_00000" / name).read_bytes()
        assert first == (b.parent / "Phantom_00000" / name).read_bytes()
        assert first != (c.parent / "Phantom_00000" / name).read_bytes()
    assert a.read_bytes() == b.read_bytes()


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_phantom_dataset(out, 1, ("t1", "t2"), 0.0, seed=1, progress=False)
    with pytest.raises(OutputExistsError, match="not empty"):
        make_phantom_dataset(out, 1, ("t1",), 0.0, seed=1, progress=False)
    (out / "mine.txt").write_text("keep me")
    make_phantom_dataset(out, 1, ("t1",), 0.0, seed=1, overwrite=True, progress=False)
    assert not (out / "Phantom_00000" / "Phantom_00000_t2.nii.gz").exists()  # stale file gone
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_cases": 0}, "--cases"),
        ({"missing_rate": 1.0}, "--missing-rate"),
        ({"size": "3mm"}, "--size"),
        ({"modalities": ("t1", "ct")}, "cannot make 'ct'"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    options = {"n_cases": 1, "progress": False, **kwargs}
    with pytest.raises(ConfigError, match=match):
        make_phantom_dataset(tmp_path / "x", **options)
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("mmhvae.data.case") is None, reason="data layer not there yet"
)
def test_reads_back_through_the_data_layer(dataset: Path) -> None:
    from mmhvae.data.case import load_case
    from mmhvae.data.layouts import discover_cases

    rows = _manifest(dataset)
    cases = discover_cases(dataset)
    assert [c.case_id for c in cases] == sorted({r["case"] for r in rows})
    for files in cases:
        expected = {
            r["modality"] for r in rows if r["case"] == files.case_id and r["kind"] == "image"
        }
        assert set(files.images) == expected
        assert files.seg is not None
        case = load_case(files)
        assert set(case.images) == expected
        modalities = ("t1", "t1ce", "t2", "flair", "us")
        np.testing.assert_array_equal(case.present(modalities), [m in expected for m in modalities])


def test_overwrite_keeps_foreign_files_and_refuses_an_unmarked_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_phantom_dataset(out, 1, ("t1",), 0.0, seed=1, progress=False)
    mine = out / "Phantom_00000" / "notes.txt"
    mine.write_text("keep me")
    make_phantom_dataset(out, 1, ("t1",), 0.0, seed=1, overwrite=True, progress=False)
    assert mine.read_text() == "keep me"
    # a folder the phantom did not make: its README.md and cases.csv are the user's
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "README.md").write_text("my thesis")
    (user / "cases.csv").write_text("case,modality,path\n")
    with pytest.raises(OutputExistsError, match="no .mmhvae-output marker"):
        make_phantom_dataset(user, 1, ("t1",), 0.0, seed=1, overwrite=True, progress=False)
    assert (user / "README.md").read_text() == "my thesis"
    assert (user / "cases.csv").read_text() == "case,modality,path\n"
