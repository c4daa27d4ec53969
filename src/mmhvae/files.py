"""Atomic file writes: every file the project writes goes through here.

A file is written to a temporary name in its own folder, given the ordinary permissions a new
file gets (0666 less the umask: ``mkstemp`` alone makes it private), then renamed onto its
path with ``os.replace``. A crash or an error mid-write leaves the previous file (or none),
never a truncated one.

Temporary files are named ``.NAME.XXXXXXXX.mmhvae-tmp[SUFFIX]`` and hold an exclusive
``flock`` while their writer lives. A process killed mid-write (``kill -9``) leaves its
temporary file behind; the next write into the same folder removes every such file whose
lock is free (its writer is gone), so killed runs leave nothing behind for good.

``exclusive=True`` publishes with ``os.link``, which fails when the name exists: of two
processes writing one new file, exactly one wins and the other gets ``FileExistsError``
(``exists()`` then ``os.replace`` would let both believe they wrote it).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere temporary files are not locked and not swept
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TEMP_TAG = ".mmhvae-tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_TAG) + r"(\..*)?$")
# a temporary file younger than this is never swept: its writer may not hold its lock yet
_SWEEP_MIN_AGE_S = 2.0
_swept: set[Path] = set()


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (never a user's file)."""
    return bool(_TEMP_NAME.match(name))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer is gone (lock free, not new)."""
    folder = Path(folder)
    removed: list[Path] = []
    if fcntl is None or not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        if not is_temp_name(path.name) or path.is_symlink() or not path.is_file():
            continue
        try:
            if now - path.stat().st_mtime < _SWEEP_MIN_AGE_S:
                continue
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        else:
            path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _sweep_once(folder: Path) -> None:
    key = folder.resolve()
    if key not in _swept:
        _swept.add(key)
        remove_stale_temp_files(folder)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp", exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    ``suffix`` matters to writers that infer the format from the name (``.nii.gz``).
    ``exclusive``: raise FileExistsError instead of replacing an existing ``path``, decided
    atomically at publication.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_TAG + suffix, dir=path.parent)
    tmp = Path(name)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is published or removed
        yield tmp
        os.chmod(tmp, _default_mode())
        if exclusive:
            _publish_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


def _publish_exclusive(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # FileExistsError when another writer got there first
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: the best we can do
        if path.exists():
            raise FileExistsError(f"{path}: exists") from None
        os.replace(tmp, path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))
