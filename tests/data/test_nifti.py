import gzip

import nibabel as nib
import numpy as np
import pytest

from mmhvae.data.nifti import load_volume, save_volume
from mmhvae.errors import DataError, OutputExistsError

from .volumes import oblique_affine, write_nifti


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_round_trip_keeps_data_affine_and_header(tmp_path, suffix):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(7, 6, 5)).astype(np.float32)
    affine = oblique_affine()
    header = nib.Nifti1Header()
    header["descrip"] = b"mmhvae test"
    header.set_xyzt_units("mm", "sec")
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=2)
    first = save_volume(tmp_path / f"a{suffix}", data, affine, header)
    volume = load_volume(first)
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)
    assert volume.header["descrip"].tobytes().rstrip(b"\0") == b"mmhvae test"
    assert volume.header.get_xyzt_units() == ("mm", "sec")
    assert int(volume.header["sform_code"]) == 2
    assert int(volume.header["qform_code"]) == 1
    assert volume.header.get_data_dtype() == np.float32
    # int16 input with a slope: values come back as stored floats, with the slope reset
    header.set_data_dtype(np.int16)
    header.set_slope_inter(3.0, 1.0)
    second = save_volume(tmp_path / f"b{suffix}", data, affine, header)
    again = load_volume(second)
    np.testing.assert_array_equal(again.data, data)
    assert again.header.get_slope_inter() in ((1.0, 0.0), (None, None))
    assert (second.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".nii.gz")


def test_existing_output_is_not_overwritten(tmp_path):
    path = save_volume(tmp_path / "a.nii.gz", np.ones((2, 2, 2)), np.eye(4))
    with pytest.raises(OutputExistsError, match="a.nii.gz"):
        save_volume(path, np.zeros((2, 2, 2)), np.eye(4))
    assert load_volume(path).data.max() == 1
    save_volume(path, np.zeros((2, 2, 2)), np.eye(4), overwrite=True)
    assert load_volume(path).data.max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]  # no temp files left


def test_trailing_singleton_axis_is_squeezed(tmp_path):
    path = write_nifti(tmp_path / "a.nii.gz", np.ones((4, 3, 2, 1), np.float32))
    assert load_volume(path).data.shape == (4, 3, 2)


@pytest.mark.parametrize(("shape", "message"), [((4, 3), "2D"), ((4, 3, 2, 2), "4D")])
def test_wrong_dimensions(tmp_path, shape, message):
    path = write_nifti(tmp_path / "a.nii.gz", np.ones(shape, np.float32))
    with pytest.raises(DataError, match=f"a.nii.gz.*{message}"):
        load_volume(path)


def test_non_finite_voxels(tmp_path):
    data = np.ones((4, 3, 2), np.float32)
    data[1, 1, 1] = np.nan
    data[0, 0, 0] = np.inf
    path = write_nifti(tmp_path / "a.nii", data)
    with pytest.raises(DataError, match="a.nii: 2 non-finite"):
        load_volume(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_volume(tmp_path / "missing.nii.gz")
    with pytest.raises(DataError, match="not a NIfTI"):
        load_volume(
            write_nifti(tmp_path / "a.nii.gz", np.ones((2, 2, 2))).rename(tmp_path / "a.img")
        )
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="garbage.nii.gz"):
        load_volume(garbage)
    full = write_nifti(tmp_path / "full.nii.gz", np.random.default_rng(0).random((20, 20, 20)))
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(DataError, match="truncated.nii.gz"):
        load_volume(truncated)
    raw = tmp_path / "short.nii"
    raw.write_bytes(gzip.decompress(full.read_bytes())[:1000])
    with pytest.raises(DataError, match="short.nii"):
        load_volume(raw)
