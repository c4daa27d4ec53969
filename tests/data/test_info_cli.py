import json

import numpy as np

from mmhvae.cli.main import main

from .volumes import brain_volume, write_nifti


def test_info_on_real_manifest(shared_data, capsys):
    assert main(["info", str(shared_data / "cases.csv")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["case"][1:5] == ["t1", "t1ce", "t2", "flair"]
    assert rows["brats2013-pat0005"][1:5] == ["-", "x", "-", "x"]
    assert rows["tcga-fg-6692"][1:5] == ["x", "x", "x", "x"]
    assert rows["tcga-fg-6692"][-2:] == ["240x240x155", "1.00x1.00x1.00"]
    assert "8 cases" in out
    assert "tcga-fg-6692-native: volumes on different grids (t1ce 256x224x26" in out
    assert "t2 224x256x26" in out and "resampled onto the t1ce grid" in out


def test_info_reports_bad_files_without_aborting(tmp_path, capsys):
    for case in ("Case001", "Case002"):
        write_nifti(tmp_path / f"{case}-t2.nii.gz", brain_volume())
    write_nifti(tmp_path / "Case001-us.nii.gz", np.zeros((12, 10, 8), np.float32))
    (tmp_path / "Case002-flair.nii.gz").write_bytes(b"broken")
    assert main(["info", str(tmp_path), "--check-voxels", "--no-resample"]) == 1  # problems
    out = capsys.readouterr().out
    assert "Case001-us.nii.gz is all zero" in out
    assert "Case002: " in out and "Case002-flair.nii.gz: unreadable" in out
    assert "2 problem(s)" in out


def test_info_unusable_data_exits_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["info", str(tmp_path), "--layout", "nnunet"]) == 2
    assert "does not look like a nnunet dataset" in capsys.readouterr().err


def test_info_json_says_the_same_as_the_table(shared_data, capsys):
    import json

    assert main(["info", str(shared_data / "cases.csv"), "--json"]) == 0  # notes only
    data = json.loads(capsys.readouterr().out)
    assert data["layout"] == "csv" and data["modalities"] == ["t1", "t1ce", "t2", "flair"]
    cases = {c["case"]: c for c in data["cases"]}
    assert len(cases) == 8 and data["available"]["t1ce"] == 8
    tcga = cases["tcga-fg-6692"]
    assert tcga["shape"] == [240, 240, 155] and tcga["spacing_mm"] == [1.0, 1.0, 1.0]
    assert set(tcga["files"]) >= {"t1", "t1ce", "t2", "flair"} and all(tcga["usable"].values())
    assert set(cases["brats2013-pat0005"]["files"]) >= {"t1ce", "flair"}
    assert "t1" not in cases["brats2013-pat0005"]["files"]
    assert not data["problems"]  # resampling the native case is a note
    assert any("tcga-fg-6692-native: volumes on different grids" in n for n in data["notes"])


def test_info_json_marks_unusable_files(tmp_path, capsys):
    import json

    write_nifti(tmp_path / "Case001-t2.nii.gz", brain_volume())
    (tmp_path / "Case001-flair.nii.gz").write_bytes(b"broken")
    assert main(["info", str(tmp_path), "--json"]) == 1  # a problem: exit 1
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["usable"] == {"t2": True, "flair": False}
    assert "Case001-flair.nii.gz: unreadable" in case["problems"][0]


def test_info_names_label_maps_and_constant_images(tmp_path, capsys):
    labels = np.zeros((12, 10, 8), np.float32)
    labels[2:6, 2:6, 2:6], labels[6:9, 3:7, 2:6] = 2, 4
    write_nifti(tmp_path / "Case001-t2.nii.gz", labels)
    write_nifti(tmp_path / "Case001-t1.nii.gz", np.full((12, 10, 8), 7.0, np.float32))
    write_nifti(tmp_path / "Case001-flair.nii.gz", brain_volume())
    assert main(["info", str(tmp_path), "--check-voxels"]) == 1
    out = capsys.readouterr().out
    assert "Case001-t2.nii.gz looks like a label map or mask (only the values 0, 2, 4)" in out
    assert "Case001-t1.nii.gz is constant" in out
    write_nifti(tmp_path / "Case001-t2.nii.gz", brain_volume(seed=1))
    write_nifti(tmp_path / "Case001-t1.nii.gz", brain_volume(seed=2))
    assert main(["info", str(tmp_path), "--check-voxels"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_info_reads_one_nnunet_split(tmp_path, capsys):
    from .test_layouts import _nnunet

    root = _nnunet(tmp_path, train=("a", "b"), test=("z",))
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 cases, layout nnunet (imagesTs only" in out
    assert main(["info", str(root), "--split", "tr", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["split"] == "tr" and [c["case"] for c in data["cases"]] == ["a", "b"]
