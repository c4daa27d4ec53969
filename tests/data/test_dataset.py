import os

import nibabel as nib
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmhvae.config import AugmentConfig
from mmhvae.data.augment import augment_slice
from mmhvae.data.case import Case
from mmhvae.data.dataset import (
    CaseCache,
    SliceDataset,
    collate_slices,
    context_slices,
    load_prepared_dataset,
    split_cases,
)
from mmhvae.data.layouts import CaseFiles, Layout, discover_cases
from mmhvae.data.preprocess import prepare_case
from mmhvae.errors import DataError

from .volumes import brain_volume, write_nifti

MODALITIES = ("t1", "t1ce", "t2", "flair")


def _prepared(case_id, present, seed=0):
    images = {
        m: brain_volume((16, 16, 6), seed + i) for i, m in enumerate(MODALITIES) if m in present
    }
    shape = (16, 16, 6)
    files = CaseFiles(case_id, {}, None, None, Layout.CSV)
    case = Case(case_id, images, np.eye(4), nib.Nifti1Header(), shape, None, None, files, "t1")
    return prepare_case(case, MODALITIES, 16)


def test_slices_batches_and_missing_patterns():
    cases = [_prepared("a", MODALITIES), _prepared("b", ("t1ce", "flair"), 5)]
    dataset = SliceDataset(cases, min_brain_fraction=0.05)
    brain = [c.mask.sum(axis=(1, 2)) for c in cases]
    assert len(dataset) == sum(int((b >= 0.05 * 256).sum()) for b in brain)
    item = dataset[0]
    assert item["images"].shape == (4, 1, 16, 16) and item["images"].dtype == torch.float32
    assert item["mask"].shape == (1, 16, 16) and item["mask"].dtype == torch.bool
    assert item["images"].min() >= -1 and item["images"].max() <= 1
    assert torch.all(item["images"][:, :, ~item["mask"][0]] == -1)  # background is -1
    expected = torch.from_numpy(cases[0].images[:, item["slice_index"]]) * 2 - 1
    torch.testing.assert_close(item["images"][:, 0], expected)
    loader = DataLoader(dataset, batch_size=len(dataset), collate_fn=collate_slices)
    batch = next(iter(loader))
    assert batch["images"].shape == (len(dataset), 4, 1, 16, 16)
    assert batch["present"].shape == (len(dataset), 4)
    assert isinstance(batch["case_id"], list) and set(batch["case_id"]) == {"a", "b"}
    patterns = {tuple(p.tolist()) for p in batch["present"]}
    assert patterns == {(True, True, True, True), (False, True, False, True)}
    absent = ~batch["present"]  # (B, M)
    assert torch.all(batch["images"][absent] == -1)
    assert len(SliceDataset(cases, min_brain_fraction=1.01)) == 0


def test_augmentation_is_deterministic_and_keeps_background():
    cases = [_prepared("b", ("t1ce", "flair"), 5)]
    config = AugmentConfig(enabled=True, rotate_deg=15, scale=0.1)
    first, second = (
        SliceDataset(cases, augment=config, seed=3),
        SliceDataset(cases, augment=config, seed=3),
    )
    a, b = first[2], second[2]
    torch.testing.assert_close(a["images"], b["images"])
    assert not torch.equal(a["images"], SliceDataset(cases, seed=3)[2]["images"])
    first.set_epoch(1)
    assert not torch.equal(first[2]["images"], a["images"])
    assert torch.all(a["images"][[0, 2]] == -1)  # absent modalities stay -1
    assert torch.all(a["images"][:, :, ~a["mask"][0]] == -1)
    disabled = SliceDataset(cases, augment=AugmentConfig(enabled=False))
    torch.testing.assert_close(disabled[2]["images"], SliceDataset(cases)[2]["images"])


def test_identity_augmentation_and_flip():
    images = torch.rand(2, 1, 8, 8) * 2 - 1
    present, mask = torch.tensor([True, True]), torch.ones(1, 8, 8, dtype=torch.bool)
    still = AugmentConfig(
        enabled=True, flip_prob=0, rotate_deg=0, scale=0, gamma=0, bias_field=0,
        intensity_on_targets=True,
    )  # fmt: skip
    out, target, _ = augment_slice(images, present, mask, still, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, images)
    assert target is out  # targets that take the intensity too are the inputs themselves
    flip = AugmentConfig(enabled=True, flip_prob=1, rotate_deg=0, scale=0, gamma=0, bias_field=0)
    out, _, _ = augment_slice(images, present, mask, flip, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, images.flip(-1))


def test_intensity_on_inputs_only_leaves_the_targets_their_intensities():
    images = torch.rand(3, 1, 8, 8) * 2 - 1
    present = torch.tensor([True, False, True])
    images[1] = -1.0
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    config = AugmentConfig(
        enabled=True, flip_prob=1, rotate_deg=0, scale=0, gamma=0.5, bias_field=0.5,
        intensity_on_targets=False,
    )  # fmt: skip
    inputs, targets, _ = augment_slice(images, present, mask, config, torch.Generator())
    torch.testing.assert_close(targets, images.flip(-1))  # the geometry, not the intensity
    assert not torch.allclose(inputs[[0, 2]], targets[[0, 2]], atol=1e-3)
    assert torch.all(inputs[1] == -1) and torch.all(targets[1] == -1)
    # the inputs are what the same draw gives when the targets take the intensity too
    both = AugmentConfig(**{**config.__dict__, "intensity_on_targets": True})
    seeded = torch.Generator().manual_seed(4)
    same, same_targets, _ = augment_slice(images, present, mask, both, seeded)
    inputs, _, _ = augment_slice(images, present, mask, config, torch.Generator().manual_seed(4))
    torch.testing.assert_close(inputs, same)
    assert same_targets is same


def test_the_dataset_gives_inputs_only_when_they_differ_from_the_images():
    cases = [_prepared("b", ("t1ce", "flair"), 5)]
    apart = AugmentConfig(enabled=True, gamma=0.4, intensity_on_targets=False)
    item = SliceDataset(cases, augment=apart, seed=1)[2]
    assert item["inputs"].shape == item["images"].shape
    assert not torch.equal(item["inputs"], item["images"])
    together = AugmentConfig(enabled=True, gamma=0.4, intensity_on_targets=True)
    assert "inputs" not in SliceDataset(cases, augment=together, seed=1)[2]
    assert "inputs" not in SliceDataset(cases)[2]
    assert not AugmentConfig().intensity_on_targets  # the default since 2026-12-07


def test_context_slices_clip_at_the_volume_ends():
    np.testing.assert_array_equal(context_slices(3, 1, 6), [2, 3, 4])
    np.testing.assert_array_equal(context_slices(0, 1, 6), [0, 0, 1])
    np.testing.assert_array_equal(context_slices(5, 2, 6), [3, 4, 5, 5, 5])
    np.testing.assert_array_equal(context_slices(2, 0, 6), [2])


def test_context_gives_the_neighbouring_slices_as_inputs():
    """model.context = 1: inputs (M, 3, H, W) are slices s - 1, s, s + 1 of the volume
    (clipped), images the slice s alone; absent modalities -1 in every slice."""
    cases = [_prepared("b", ("t1ce", "flair"), 5)]
    plain, ctx = SliceDataset(cases), SliceDataset(cases, context=1)
    assert len(ctx) == len(plain)
    for item in (0, len(ctx) - 1):
        got, s = ctx[item], ctx[item]["slice_index"]
        assert got["inputs"].shape == (4, 3, 16, 16) and got["images"].shape == (4, 1, 16, 16)
        torch.testing.assert_close(got["images"], plain[item]["images"])
        volume = torch.from_numpy(cases[0].images) * 2 - 1  # (M, S, H, W)
        for j, z in enumerate(context_slices(s, 1, volume.shape[1])):
            torch.testing.assert_close(got["inputs"][[1, 3], j], volume[[1, 3], z])
        assert torch.all(got["inputs"][[0, 2]] == -1)
    # augmented: the slice's channel of the inputs is what the targets are, up to intensity
    geometry = AugmentConfig(enabled=True, rotate_deg=15, scale=0.1, gamma=0, bias_field=0)
    item = SliceDataset(cases, augment=geometry, seed=2, context=1)[3]
    torch.testing.assert_close(item["inputs"][:, 1:2], item["images"])
    assert not torch.equal(item["inputs"][:, 0], item["inputs"][:, 2])


def test_augmenting_a_slice_with_its_neighbours_is_augmenting_each_alike():
    """A modality's channels (a slice and its neighbours) share the geometry, gamma and bias
    field: three copies of one slice come out as three copies of its own augmentation (the
    neighbours inside the warped brain mask: outside it they keep their own background)."""
    images = torch.rand(2, 1, 12, 12) * 2 - 1
    present, mask = torch.tensor([True, True]), torch.ones(1, 12, 12, dtype=torch.bool)
    mask[:, :2] = False
    images[:, :, :2] = -1.0
    config = AugmentConfig(enabled=True, rotate_deg=20, scale=0.2, gamma=0.5, bias_field=0.5)
    one = augment_slice(images, present, mask, config, torch.Generator().manual_seed(7))
    three = augment_slice(
        images.repeat(1, 3, 1, 1), present, mask, config, torch.Generator().manual_seed(7), 1
    )
    torch.testing.assert_close(three[2], one[2])
    inside = one[2][None].expand_as(one[0])  # (M, 1, H, W)
    for a, b in zip(one[:2], three[:2], strict=True):
        torch.testing.assert_close(b[:, 1:2], a, atol=1e-6, rtol=0)
        for c in (0, 2):
            torch.testing.assert_close(b[:, c : c + 1][inside], a[inside], atol=1e-6, rtol=0)


def test_split_by_case():
    cases = [_prepared(name, MODALITIES) for name in "abcd"]
    train, val = split_cases(cases, 1, seed=0)
    assert len(train) == 3 and len(val) == 1
    assert {c.case_id for c in train} | {c.case_id for c in val} == set("abcd")
    assert split_cases(cases, 1, seed=0)[1][0].case_id == val[0].case_id
    assert len(split_cases(cases[:1], 1)[0]) == 1  # one case: nothing held out


def _folder_dataset(root):
    for index, present in enumerate([MODALITIES, ("t1", "flair")]):
        case = f"BraTS2021_{index:05d}"
        for m in present:
            write_nifti(root / case / f"{case}_{m}.nii.gz", brain_volume((12, 10, 8), index))
    return root


def test_cache_hit_returns_equal_arrays(tmp_path):
    root = _folder_dataset(tmp_path / "data")
    cache_dir = tmp_path / "cache"
    first, warnings = load_prepared_dataset(
        root, image_size=16, cache_dir=cache_dir, progress=False
    )
    assert [p.modalities for p in first] == [MODALITIES, MODALITIES]
    assert first[1].present.tolist() == [True, False, False, True]
    assert warnings == []
    entries = sorted(os.listdir(cache_dir))
    assert len(entries) == 4  # one .npz and one .json per case
    again, _ = load_prepared_dataset(root, image_size=16, cache_dir=cache_dir, progress=False)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.grid.crop_start == b.grid.crop_start and a.grid.header_bytes == b.grid.header_bytes
    assert sorted(os.listdir(cache_dir)) == entries  # hits: nothing new written
    other, _ = load_prepared_dataset(
        root, ["t1"], image_size=8, cache_dir=cache_dir, progress=False
    )
    assert other[0].images.shape[0] == 1 and len(os.listdir(cache_dir)) == 8
    # a changed input file is a miss
    path = root / "BraTS2021_00000" / "BraTS2021_00000_t1.nii.gz"
    write_nifti(path, brain_volume((12, 10, 8), 9))
    os.utime(path, ns=(1, 1))
    cache = CaseCache(cache_dir)
    changed = cache.get_or_prepare(discover_cases(root)[0], MODALITIES, 16)
    assert not np.array_equal(changed.images[0], first[0].images[0])


def test_no_case_with_requested_modalities(tmp_path):
    root = _folder_dataset(tmp_path / "data")
    with pytest.raises(DataError, match="no case has any of the modalities us"):
        load_prepared_dataset(root, ["us"], image_size=8, progress=False)


def test_training_data_is_the_imagestr_half(tmp_path):
    from .test_layouts import _nnunet

    root = _nnunet(tmp_path / "raw", train=("a", "b"), test=("z",))
    prepared, _ = load_prepared_dataset(root, ("t1", "t2"), image_size=16, progress=False)
    assert sorted(p.case_id for p in prepared) == ["a", "b"]
