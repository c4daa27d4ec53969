import json

import numpy as np
import pytest

from mmhvae.data.layouts import CaseFiles, Layout, Split, detect_layout, discover_cases
from mmhvae.errors import DataError

from .volumes import brain_volume, write_nifti


def _write(folder, names):
    for name in names:
        write_nifti(folder / name, brain_volume())


def test_brats2021_dataset_and_single_case(tmp_path):
    for case in ("BraTS2021_00000", "BraTS2021_00002"):
        _write(
            tmp_path / case, [f"{case}_{m}.nii.gz" for m in ("t1", "t1ce", "t2", "flair", "seg")]
        )
    # our own outputs beside the inputs are not taken for inputs
    _write(tmp_path / "BraTS2021_00000", ["BraTS2021_00000_t2_synth.nii.gz"])
    cases = discover_cases(tmp_path)
    assert detect_layout(tmp_path) is Layout.BRATS2021
    assert [c.case_id for c in cases] == ["BraTS2021_00000", "BraTS2021_00002"]
    first = cases[0]
    assert first.modalities == ("t1", "t1ce", "t2", "flair")
    assert first.images["t2"].name == "BraTS2021_00000_t2.nii.gz"
    assert first.seg is not None and first.seg.name == "BraTS2021_00000_seg.nii.gz"
    assert first.output_name("t2") == "BraTS2021_00000_t2_synth.nii.gz"
    assert first.output_subdir == "BraTS2021_00000"
    single = discover_cases(tmp_path / "BraTS2021_00002")
    assert [c.case_id for c in single] == ["BraTS2021_00002"]


def test_brats2018_folders_and_missing_modalities(tmp_path):
    _write(
        tmp_path / "Brats18_2013_20_1", ["Brats18_2013_20_1_flair.nii", "Brats18_2013_20_1_t1.nii"]
    )
    (case,) = discover_cases(tmp_path, layout="brats2021")
    assert case.modalities == ("t1", "flair")
    assert case.seg is None and case.mask is None
    assert case.output_name("t1ce", "_x") == "Brats18_2013_20_1_t1ce_x.nii.gz"


def test_brats2023_with_other_prefixes(tmp_path):
    for case in ("BraTS-GLI-00000-000", "BraTS-MET-00110-000", "BraTS-PED-00001-000"):
        _write(tmp_path / case, [f"{case}-{m}.nii.gz" for m in ("t1n", "t1c", "t2w", "seg")])
    cases = discover_cases(tmp_path)
    assert detect_layout(tmp_path) is Layout.BRATS2023
    assert len(cases) == 3
    assert cases[0].modalities == ("t1", "t1ce", "t2")
    assert cases[0].output_name("t2") == "BraTS-GLI-00000-000-t2w_synth.nii.gz"
    assert cases[0].output_name("flair") == "BraTS-GLI-00000-000-t2f_synth.nii.gz"
    assert cases[0].output_subdir == "BraTS-GLI-00000-000"


@pytest.mark.parametrize("in_folders", [False, True])
def test_remind_flat_or_in_folders(tmp_path, in_folders):
    for case in ("Case001", "Case002"):
        folder = tmp_path / case if in_folders else tmp_path
        _write(folder, [f"{case}-{m}.nii.gz" for m in ("t2", "cet1", "us")])
    cases = discover_cases(tmp_path)
    assert cases[0].layout is Layout.REMIND
    assert [c.case_id for c in cases] == ["Case001", "Case002"]
    assert cases[0].modalities == ("t1ce", "t2", "us")
    assert cases[0].output_name("t1ce") == "Case001-cet1_synth.nii.gz"
    assert cases[0].output_name("flair") == "Case001-flair_synth.nii.gz"
    assert cases[0].output_subdir == ("Case001" if in_folders else "")


@pytest.mark.parametrize("key", ["channel_names", "modality"])
def test_nnunet_raw(tmp_path, key):
    names = {"0": "T1", "1": "T1ce", "2": "FLAIR"}
    (tmp_path / "dataset.json").write_text(json.dumps({key: names, "file_ending": ".nii.gz"}))
    _write(tmp_path / "imagesTr", ["BRATS_001_0000.nii.gz", "BRATS_001_0002.nii.gz"])
    _write(tmp_path / "imagesTr", ["BRATS_002_0001.nii.gz"])
    _write(tmp_path / "labelsTr", ["BRATS_001.nii.gz"])
    _write(tmp_path / "imagesTs", ["BRATS_100_0000.nii.gz"])
    cases = discover_cases(tmp_path, split="tr")
    assert detect_layout(tmp_path) is Layout.NNUNET
    assert [c.case_id for c in cases] == ["BRATS_001", "BRATS_002"]
    assert {c.split for c in cases} == {Split.TR}
    assert cases[0].modalities == ("t1", "flair")
    assert cases[0].seg is not None and cases[0].seg.name == "BRATS_001.nii.gz"
    assert cases[1].seg is None
    assert cases[0].output_name("t1ce") == "BRATS_001_0001_synth.nii.gz"
    assert cases[0].output_subdir == ""
    with pytest.raises(DataError, match="no channel index"):
        cases[0].output_name("t2")


def _nnunet(root, train=("a", "b"), test=("z",)):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T1", "1": "T2"}}))
    _write(root / "imagesTr", [f"{c}_{i:04d}.nii.gz" for c in train for i in (0, 1)])
    _write(root / "labelsTr", [f"{c}.nii.gz" for c in train])
    _write(root / "imagesTs", [f"{c}_0000.nii.gz" for c in test])
    _write(root / "labelsTs", [f"{c}.nii.gz" for c in test])
    return root


def test_nnunet_splits_are_never_mixed(tmp_path):
    root = _nnunet(tmp_path)
    train = discover_cases(root, split=Split.TR)
    assert [c.case_id for c in train] == ["a", "b"]
    assert all(c.images["t1"].parent.name == "imagesTr" for c in train)
    assert train[0].seg == root / "labelsTr" / "a.nii.gz"
    (test,) = discover_cases(root, split="ts")
    assert test.case_id == "z" and test.images == {"t1": root / "imagesTs" / "z_0000.nii.gz"}
    assert test.seg == root / "labelsTs" / "z.nii.gz" and test.split is Split.TS
    # the inference default: the test half when there is one
    assert [c.case_id for c in discover_cases(root)] == ["z"]
    assert [c.case_id for c in discover_cases(root, split="imagesTr")] == ["a", "b"]


def test_nnunet_default_without_images_ts_and_a_missing_half(tmp_path):
    root = _nnunet(tmp_path, test=())
    assert [c.case_id for c in discover_cases(root)] == ["a", "b"]  # imagesTr, nothing else
    with pytest.raises(DataError, match=r"imagesTs: no cases \(--split ts\)"):
        discover_cases(root, split="ts")
    with pytest.raises(DataError, match="unknown split 'val'"):
        discover_cases(root, split="val")


def test_split_is_ignored_by_layouts_without_one(tmp_path):
    _write(tmp_path / "BraTS2021_1", ["BraTS2021_1_t1.nii.gz"])
    for split in ("tr", "ts", None):
        (case,) = discover_cases(tmp_path, split=split)
        assert case.case_id == "BraTS2021_1" and case.split is None


def test_csv_manifest_relative_paths(tmp_path):
    _write(tmp_path / "vols", ["a1.nii.gz", "a2.nii.gz", "m.nii.gz"])
    (tmp_path / "list.csv").write_text(
        "case,modality,path,kind,note\n"
        "p1,T2W,vols/a1.nii.gz,image,hello\n"
        "p1,t1c,vols/a2.nii.gz,image,\n"
        "p1,mask,vols/m.nii.gz,mask,\n"
    )
    (case,) = discover_cases(tmp_path / "list.csv")
    assert case.layout is Layout.CSV
    assert case.images == {"t2": tmp_path / "vols/a1.nii.gz", "t1ce": tmp_path / "vols/a2.nii.gz"}
    assert case.mask == tmp_path / "vols/m.nii.gz"
    assert case.output_name("flair") == "p1_flair_synth.nii.gz"
    assert case.output_subdir == ""


def test_real_manifests(shared_data, shared_more):
    cases = {c.case_id: c for c in discover_cases(shared_data / "cases.csv")}
    assert len(cases) == 8
    assert cases["brats2013-pat0005"].modalities == ("t1ce", "flair")
    assert cases["brats2013-pat0005"].mask is not None
    assert cases["tcga-fg-6692"].modalities == ("t1", "t1ce", "t2", "flair")
    assert all(p.is_file() for c in cases.values() for p in c.images.values())
    more = discover_cases(shared_more / "cases.csv")
    assert len(more) == 20
    assert all(c.modalities == ("t1", "t1ce", "t2", "flair") for c in more)


def _csv(tmp_path, rows):
    path = tmp_path / "cases.csv"
    path.write_text("case,modality,path,kind\n" + "\n".join(rows) + "\n")
    return path


def test_bad_datasets(tmp_path):
    with pytest.raises(DataError, match="unknown modality 't5'"):
        discover_cases(_csv(tmp_path, ["a,t5,x.nii.gz,image"]))
    with pytest.raises(DataError, match="'t1ce' given twice"):
        discover_cases(_csv(tmp_path, ["a,t1c,x.nii.gz,image", "a,t1gd,y.nii.gz,image"]))
    with pytest.raises(DataError, match="case a .*no image"):
        discover_cases(_csv(tmp_path, ["a,seg,x.nii.gz,seg"]))
    no_path = tmp_path / "no_path.csv"
    no_path.write_text("case,modality,kind\na,t1,image\n")
    with pytest.raises(DataError, match="no_path.csv: missing column.*path"):
        discover_cases(no_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no cases found .*tried layouts: csv, nnunet, brats2023"):
        discover_cases(empty)
    with pytest.raises(DataError, match="not found"):
        discover_cases(tmp_path / "nowhere")
    # one bad file is that case's problem (named), not a reason to refuse the dataset
    _write(tmp_path / "BraTS2021_1", ["BraTS2021_1_t1.nii.gz", "BraTS2021_1_t9.nii.gz"])
    (case,) = discover_cases(tmp_path / "BraTS2021_1")
    assert case.modalities == ("t1",)
    assert any("BraTS2021_1_t9.nii.gz: unknown modality 't9'" in p for p in case.problems)
    with pytest.raises(DataError, match="unknown layout"):
        discover_cases(empty, layout="brats1999")


def test_forced_layout_must_match(tmp_path):
    _write(tmp_path / "BraTS2021_1", ["BraTS2021_1_t1.nii.gz"])
    with pytest.raises(DataError, match="does not look like a nnunet dataset"):
        discover_cases(tmp_path, layout=Layout.NNUNET)
    with pytest.raises(DataError, match="does not look like a brats2023"):
        discover_cases(tmp_path, layout="brats2023")


def test_duplicate_case_ids(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"channel_names": {"0": "t1"}}))
    _write(tmp_path / "imagesTr", ["c1_0000.nii.gz"])
    _write(tmp_path / "imagesTs", ["c1_0000.nii.gz"])
    for split in ("tr", "ts", None):  # a leak between training and test data, whatever is read
        with pytest.raises(DataError) as error:
            discover_cases(tmp_path, split=split)
        message = str(error.value)
        assert "'c1' is in both imagesTr and imagesTs" in message
        assert str(tmp_path / "imagesTr" / "c1_0000.nii.gz") in message
        assert str(tmp_path / "imagesTs" / "c1_0000.nii.gz") in message
    remind = tmp_path / "remind"
    _write(remind, ["Case001-t2.nii.gz"])
    _write(remind / "Case001", ["Case001-us.nii.gz"])
    with pytest.raises(DataError, match="duplicate case id 'Case001'"):
        discover_cases(remind)


def test_casefiles_is_plain_data():
    files = CaseFiles("x", {}, None, None, Layout.CSV)
    assert files.output_name("T2F", suffix="") == "x_flair.nii.gz"
    assert np.array_equal(files.modalities, ())


def test_bad_files_in_a_case_folder_are_reported_not_fatal(tmp_path):
    good = tmp_path / "BraTS2021_00000"
    _write(good, ["BraTS2021_00000_t1.nii.gz", "BraTS2021_00000_t2.nii.gz"])
    (good / "BraTS2021_00000_flair.nii.gz").symlink_to(tmp_path / "gone.nii.gz")
    (good / "BraTS2021_00000_t1ce.nii.gz").mkdir()  # a folder named like a volume
    seg_only = tmp_path / "BraTS2021_00001"
    _write(seg_only, ["BraTS2021_00001_seg.nii.gz"])
    twice = tmp_path / "BraTS2021_00002"
    _write(
        twice, ["BraTS2021_00002_t1.nii.gz", "BraTS2021_00002_t2.nii", "BraTS2021_00002_t2.nii.gz"]
    )
    cases = {c.case_id: c for c in discover_cases(tmp_path)}
    assert set(cases) == {"BraTS2021_00000", "BraTS2021_00001", "BraTS2021_00002"}
    first = cases["BraTS2021_00000"]
    assert first.modalities == ("t1", "t2")
    problems = " | ".join(first.problems)
    assert "BraTS2021_00000_flair.nii.gz: a dangling link" in problems
    assert "BraTS2021_00000_t1ce.nii.gz: not a file" in problems
    assert cases["BraTS2021_00001"].images == {}
    assert "no image modality" in cases["BraTS2021_00001"].problems[0]
    assert cases["BraTS2021_00002"].modalities == ("t1",)
    assert "t2 given twice" in cases["BraTS2021_00002"].problems[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("p1_t1", ("p1", "t1")),
        ("Case-001-T1c", ("Case-001", "T1c")),
        ("sub_07_t1_gd", ("sub_07", "t1_gd")),  # the pair of pieces first
        ("pat-t2-flair", ("pat", "t2-flair")),
        ("p1_brain_mask", ("p1", "brain_mask")),
        ("p1_seg", ("p1", "seg")),
        ("p1_t2_synth", None),  # our own outputs are not inputs
        ("t1", None),  # no case id
        ("p1_notes", None),
    ],
)
def test_flat_name(name, expected):
    from mmhvae.data.layouts import flat_name

    assert flat_name(name) == expected


def test_flat_folder_of_several_patients(tmp_path):
    _write(tmp_path, ["p1_t1.nii.gz", "p1_T1c.nii.gz", "p1_seg.nii.gz", "p1_t2_synth.nii.gz"])
    _write(tmp_path, ["p2-t2w.nii.gz", "p2-flair.nii.gz", "p2-brainmask.nii.gz"])
    _write(tmp_path, ["BraTS-GLI-00003-000-t2f.nii.gz"])
    cases = discover_cases(tmp_path)
    assert detect_layout(tmp_path) is Layout.FLAT
    assert [c.case_id for c in cases] == ["BraTS-GLI-00003-000", "p1", "p2"]
    _, p1, p2 = cases
    assert p1.images == {"t1": tmp_path / "p1_t1.nii.gz", "t1ce": tmp_path / "p1_T1c.nii.gz"}
    assert p1.seg == tmp_path / "p1_seg.nii.gz" and p1.mask is None
    assert p2.modalities == ("t2", "flair") and p2.mask == tmp_path / "p2-brainmask.nii.gz"
    assert p1.output_name("t2") == "p1_t2_synth.nii.gz" and p1.output_subdir == ""
    assert p2.output_name("t1ce", "") == "p2-t1ce.nii.gz"  # the case's own separator


def test_flat_hyphen_only_folder_stays_remind_unless_forced(tmp_path):
    _write(tmp_path, ["p1-t1.nii.gz", "p1-cet1.nii.gz", "p2-t2.nii.gz"])
    assert detect_layout(tmp_path) is Layout.REMIND
    cases = discover_cases(tmp_path, layout="flat")
    assert [(c.case_id, c.modalities, c.layout) for c in cases] == [
        ("p1", ("t1", "t1ce"), Layout.FLAT),
        ("p2", ("t2",), Layout.FLAT),
    ]


def test_flat_modality_given_twice_is_that_cases_problem(tmp_path):
    _write(tmp_path, ["p1_t1c.nii.gz", "p1_t1gd.nii.gz", "p1_t2.nii.gz", "p2_t2.nii.gz"])
    cases = {c.case_id: c for c in discover_cases(tmp_path)}
    assert cases["p1"].modalities == ("t2",) and cases["p2"].modalities == ("t2",)
    (problem,) = cases["p1"].problems
    assert "t1ce given twice" in problem and "p1_t1c.nii.gz" in problem and "p1_t1gd" in problem
