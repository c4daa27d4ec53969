import os
import stat
from pathlib import Path

import pytest

from mmhvae.files import atomic_path, write_text_atomic


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "sub" / "a.txt", "hello")
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone would give 0600


def test_failure_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_suffix_is_kept_for_writers_that_read_it(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.nii.gz", suffix=".nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.nii.gz").read_bytes() == b"1"


def _old(path: Path) -> Path:
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def test_stale_temp_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    from mmhvae.files import remove_stale_temp_files

    stale = tmp_path / ".last.pt.abcd1234.mmhvae-tmp.tmp"
    stale.write_bytes(b"x" * 100)
    _old(stale)
    users = [tmp_path / ".hidden.tmp", tmp_path / ".a.nii.gz.abcd1234.nii.gz"]
    for path in users:
        path.write_text("a user's file, not ours")
        _old(path)
    write_text_atomic(tmp_path / "a.txt", "new")
    assert not stale.exists()
    assert all(path.exists() for path in users)
    # a live writer's temp file (its lock held) survives a sweep
    with atomic_path(tmp_path / "b.txt") as live:
        live.write_text("half")
        _old(live)
        assert remove_stale_temp_files(tmp_path) == []
        assert live.exists()
    assert (tmp_path / "b.txt").read_text() == "half"


def test_exclusive_publication_lets_one_of_two_writers_win(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    with pytest.raises(FileExistsError), atomic_path(path, exclusive=True) as first:
        first.write_text("first")
        with atomic_path(path, exclusive=True) as second:
            second.write_text("second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
