"""The guarded reader on hostile files: a DataError naming the file, or a valid volume, never
another exception (a property test over corrupted headers, and one test per known class)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmhvae.data.nifti import MAX_VOXELS, load_header, load_volume, save_volume
from mmhvae.errors import DataError

from .volumes import brain_volume, oblique_affine

# (offset, struct format) of the NIfTI-1 header fields a corruption is most likely to break
FIELDS = {
    "dim": (40, "<8h"),
    "datatype": (70, "<h"),
    "bitpix": (72, "<h"),
    "pixdim": (76, "<8f"),
    "vox_offset": (108, "<f"),
    "scl_slope": (112, "<f"),
    "scl_inter": (116, "<f"),
    "qform_code": (252, "<h"),
    "sform_code": (254, "<h"),
    "quatern": (256, "<6f"),
    "srow": (280, "<12f"),
}
ODD_FLOATS = [0.0, -1.0, 1e-30, 1e4, 1e30, 3e38, float("nan"), float("inf"), -float("inf")]


def _valid_bytes() -> bytes:
    image = nib.Nifti1Image(brain_volume((6, 5, 4)), oblique_affine())
    image.header.set_qform(oblique_affine(), code=1)
    image.header.set_sform(oblique_affine(), code=2)
    return image.to_bytes()


VALID = _valid_bytes()


def _field_values(name: str) -> st.SearchStrategy[tuple]:
    fmt = FIELDS[name][1]
    count = struct.calcsize(fmt) // struct.calcsize(fmt[-1])
    if fmt.endswith("h"):
        value = st.one_of(st.integers(-32768, 32767), st.sampled_from([0, 1, 3, 4, 8, 9, 128]))
    else:
        value = st.one_of(st.floats(width=32, allow_nan=True), st.sampled_from(ODD_FLOATS))
    return st.tuples(*[value] * count)


corruption = st.one_of(
    st.sampled_from(sorted(FIELDS)).flatmap(
        lambda name: st.tuples(st.just(name), _field_values(name))
    ),
    st.tuples(st.just("bytes"), st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)))),
    st.tuples(st.just("truncate"), st.tuples(st.integers(0, len(VALID)))),
)


def _corrupt(data: bytes, changes: list[tuple[str, tuple]]) -> bytes:
    raw = bytearray(data)
    for name, values in changes:
        if name == "bytes":
            for offset, byte in values:
                if offset < len(raw):
                    raw[offset] = byte
        elif name == "truncate":
            raw = raw[: values[0]]
        else:
            offset, fmt = FIELDS[name]
            if len(raw) >= offset + struct.calcsize(fmt):
                raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    return bytes(raw)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(corruption, min_size=1, max_size=3), gzipped=st.booleans())
def test_corrupted_headers_give_a_data_error_or_a_valid_volume(
    tmp_path: Path, changes: list[tuple[str, tuple]], gzipped: bool
) -> None:
    data = _corrupt(VALID, changes)
    path = tmp_path / ("fuzz.nii.gz" if gzipped else "fuzz.nii")
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    try:
        volume = load_volume(path)
    except DataError as error:
        assert str(path) in str(error)
        return
    assert volume.data.dtype == np.float32 and volume.data.ndim == 3
    assert np.isfinite(volume.data).all()
    assert volume.data.size <= MAX_VOXELS
    assert np.isfinite(volume.affine).all() and abs(np.linalg.det(volume.affine[:3, :3])) > 0


def _with(tmp_path: Path, name: str, **fields: object) -> Path:
    raw = bytearray(VALID)
    for key, values in fields.items():
        offset, fmt = FIELDS[key]
        raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)  # type: ignore[arg-type]
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


SRI = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dim": (9, 6, 5, 4, 1, 1, 1, 1)}, "unreadable NIfTI"),
        ({"dim": (3, 30000, 30000, 30000, 1, 1, 1, 1)}, "implausible shape"),
        ({"dim": (3, 8000, 8000, 8000, 1, 1, 1, 1)}, "header claims"),
        ({"dim": (3, 600, 500, 400, 1, 1, 1, 1)}, "more than the"),
        ({"dim": (3, 0, 5, 4, 1, 1, 1, 1)}, "shape"),
        ({"datatype": (128,), "bitpix": (24,)}, "non-scalar voxel type"),
        ({"datatype": (32,), "bitpix": (64,)}, "complex voxel type"),
        ({"datatype": (999,)}, "unreadable NIfTI"),
        ({"vox_offset": (float("inf"),)}, "unreadable NIfTI"),
        ({"vox_offset": (1e12,)}, "more than the"),
        ({"sform_code": (2,), "srow": (0.0,) * 12}, "voxel size"),
        ({"sform_code": (2,), "srow": (1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0)}, "singular"),
        ({"sform_code": (2,), "srow": (float("nan"),) + SRI[1:]}, "non-finite"),
        ({"sform_code": (0,), "qform_code": (1,), "pixdim": (1, 1e4, 1, 1, 0, 0, 0, 0)}, "size"),
        ({"pixdim": (1, float("nan"), 1, 1, 0, 0, 0, 0)}, "non-finite voxel sizes"),
    ],
)
def test_each_known_class_of_bad_header_is_a_named_data_error(
    tmp_path: Path, fields: dict, message: str
) -> None:
    path = _with(tmp_path, "bad.nii", **fields)
    with pytest.raises(DataError, match=message) as caught:
        load_volume(path)
    assert str(path) in str(caught.value)


def test_a_folder_named_like_a_volume_says_so(tmp_path: Path) -> None:
    (tmp_path / "x_t2.nii.gz").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        load_header(tmp_path / "x_t2.nii.gz")


def test_non_finite_data_is_never_written(tmp_path: Path) -> None:
    data = np.ones((3, 3, 3), np.float32)
    data[1, 1, 1] = np.nan
    with pytest.raises(DataError, match="not written: 1 of 27 voxels"):
        save_volume(tmp_path / "nan.nii.gz", data, np.eye(4))
    assert list(tmp_path.iterdir()) == []
