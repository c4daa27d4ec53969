"""Folders the tool writes, and what ``--overwrite`` may delete in them.

A folder the tool creates (a demo, a phantom, a training run) gets a marker file,
:data:`MARKER`. ``--overwrite`` deletes only files whose path (relative to the folder) matches
one of the writer's own patterns, never a whole tree, so a file the user put there survives.
A folder WITHOUT the marker that holds a file matching none of the patterns was not made by
the tool (or the user added to it): it is refused, with a message naming that file.

A pattern is a relative POSIX path whose components are ``fnmatch`` patterns
(``"checkpoints/*.pt"``); a component matches one path component only (``*`` never crosses a
``/``), so ``"images/step_*.png"`` does not reach into ``images/mine/``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path

from mmhvae.errors import OutputExistsError
from mmhvae.files import write_text_atomic

MARKER = ".mmhvae-output"


def mark(folder: str | Path, tool: str) -> Path:
    """Create ``folder`` if needed and write its marker (which tool wrote it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MARKER
    if not path.is_file():
        write_text_atomic(path, f"written by mmhvae {tool}; --overwrite deletes only its files\n")
    return path


def is_marked(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def matches(relative: str, patterns: Iterable[str]) -> bool:
    """Whether the relative POSIX path ``relative`` matches one of ``patterns``."""
    parts = relative.split("/")
    for pattern in patterns:
        pieces = pattern.split("/")
        if len(pieces) == len(parts) and all(
            fnmatch.fnmatchcase(part, piece) for part, piece in zip(parts, pieces, strict=True)
        ):
            return True
    return False


def _files(folder: Path) -> list[tuple[str, Path]]:
    """Every non-directory entry under ``folder`` (links not followed), as (relative, path)."""
    found: list[tuple[str, Path]] = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        found.append((path.relative_to(folder).as_posix(), path))
    return found


def foreign_files(folder: str | Path, patterns: Sequence[str]) -> list[Path]:
    """Files under ``folder`` that match none of ``patterns`` (the marker is never foreign)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for rel, p in _files(folder) if rel != MARKER and not matches(rel, patterns)]


def remove_own_files(folder: str | Path, patterns: Sequence[str]) -> list[Path]:
    """Delete the files under ``folder`` that match ``patterns``, then the folders this left
    empty (never ``folder`` itself); returns what was deleted. Links are deleted, not
    followed, so nothing outside ``folder`` is touched."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for rel, path in _files(folder):
        if matches(rel, patterns):
            path.unlink()
            removed.append(path)
    for parent in sorted({p.parent for p in removed}, key=lambda p: len(p.parts), reverse=True):
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed


def claim(
    folder: str | Path,
    tool: str,
    patterns: Sequence[str],
    overwrite: bool,
    unmarked: Sequence[str] | None = None,
) -> None:
    """Make ``folder`` ready for ``tool`` to write into, or refuse.

    An empty or missing folder is taken. A non-empty one needs ``overwrite``; then the tool's
    own files (``patterns``) are deleted and other files stay. Without the marker only the
    ``unmarked`` patterns (default: ``patterns``) count as the tool's, and a folder holding
    any other file is refused: a ``README.md`` in a folder the tool did not make is the user's.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise OutputExistsError(
                f"{folder}: folder is not empty (use --overwrite to replace it)"
            )
        own = patterns if is_marked(folder) else (patterns if unmarked is None else unmarked)
        refuse_foreign(folder, tool, own)
        remove_own_files(folder, own)
    mark(folder, tool)


def adopt(folder: str | Path, tool: str) -> None:
    """Make ``folder`` one ``tool`` may add files to, without deleting anything: a missing or
    empty folder is created and marked; a marked one is kept as it is (a later run adds to
    it or resumes). A folder without the marker that holds anything is refused, even with
    ``--overwrite``: files named like real scans are never written among the user's."""
    check_adoptable(folder, tool)
    mark(folder, tool)


def check_adoptable(folder: str | Path, tool: str) -> None:
    """What :func:`adopt` refuses, checked without writing anything (before a long job)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and not is_marked(folder):
        refuse_foreign(folder, tool, ())


def refuse_foreign(folder: Path, tool: str, patterns: Sequence[str]) -> None:
    """OutputExistsError when ``folder`` has no marker and holds a file ``tool`` never writes."""
    if is_marked(folder):
        return
    foreign = foreign_files(folder, patterns)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputExistsError(
            f"{folder}: not a folder mmhvae {tool} wrote (no {MARKER} marker) and it holds "
            f"other files ({foreign[0]}{more}); refusing to overwrite it: choose another "
            "folder or empty it yourself"
        )
