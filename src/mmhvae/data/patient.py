"""One patient's files in one flat folder (``mmhvae predict --input FOLDER``).

The modality of a file is read from its name: the right-most token (split at ``_``, ``-``,
``.`` or a space) or pair of tokens (``t1_gd``, ``t2-flair``) that is a modality alias of
:mod:`mmhvae.data.modalities`, a brain-mask token or a segmentation token, so that
``t1.nii.gz``, ``patient7_flair.nii.gz``, ``BraTS-GLI-00001-000-t1c.nii.gz`` and
``T1c_subtrMeanDivStd.nii.gz`` are all read. What comes before the token names the case
(``BraTS-GLI-00001-000``, ``patient7``) when every image shares it.

Files marked synthetic (data/provenance.py) are left out, as in dataset discovery; NIfTI
files whose name holds no modality token and segmentations are not inputs and are ignored.
Two files for one modality (or two masks) make the folder ambiguous: refused, both named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mmhvae.data.layouts import MASK_TOKENS, SEG_TOKENS
from mmhvae.data.modalities import canonical_modality, is_modality
from mmhvae.data.nifti import is_nifti, strip_nifti_suffix
from mmhvae.data.provenance import synthetic_mark
from mmhvae.errors import DataError

_PIECES = re.compile(r"([_\-. ])")  # split keeping the separators, to rebuild pairs as named


@dataclass(frozen=True)
class NamedFile:
    """What a file's name says: its ``kind`` (a canonical modality, "mask" or "seg") and
    the ``prefix`` before the token, separator stripped ("" when the token starts it)."""

    kind: str
    prefix: str


def read_name(name: str) -> NamedFile | None:
    """The modality (or mask / seg) a file name carries, or None when it names none."""
    pieces = _PIECES.split(strip_nifti_suffix(name))  # token, sep, token, sep, ...
    tokens = pieces[::2]
    for end in range(len(tokens) - 1, -1, -1):
        for start in (end - 1, end):  # the pair first: "t1_gd" is t1ce, "gd" alone nothing
            if start < 0:
                continue
            token = "".join(pieces[2 * start : 2 * end + 1])
            kind = _kind(token)
            if kind is not None:
                prefix = "".join(pieces[: max(2 * start - 1, 0)])
                return NamedFile(kind, prefix)
    return None


def _kind(token: str) -> str | None:
    key = token.strip().lower()
    if key in MASK_TOKENS:
        return "mask"
    if key in SEG_TOKENS:
        return "seg"
    return canonical_modality(key) if key and is_modality(key) else None


def common_prefix(paths: dict[str, Path]) -> str | None:
    """The case name every file's name starts with before its modality token (the token
    matching the modality it is given for), or None when they differ or there is none."""
    prefixes = set()
    for modality, path in paths.items():
        named = read_name(Path(path).name)
        if named is None or named.kind != canonical_modality(modality):
            return None
        prefixes.add(named.prefix)
    if len(prefixes) != 1:
        return None
    prefix = prefixes.pop()
    return prefix or None


@dataclass(frozen=True)
class PatientFiles:
    """One patient's images (canonical modality -> path), brain mask and case name."""

    images: dict[str, Path]
    mask: Path | None
    case_id: str | None  # the common prefix of the images' names, when they share one


def read_patient_folder(folder: str | Path) -> PatientFiles:
    """The images (and brain mask) of the flat ``folder`` of ONE patient.

    DataError when the folder is missing, holds no image or holds two files for one
    modality (or two masks), naming both files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (--input takes one patient's flat folder)")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not is_nifti(path.name):
            continue
        named = read_name(path.name)
        if named is None or named.kind == "seg" or synthetic_mark(path) is not None:
            continue
        if named.kind in found:
            raise DataError(
                f"{folder}: two files for {named.kind} ({found[named.kind].name}, {path.name}): "
                "ambiguous; keep one, or pass the files one by one (--t1ce FILE ...)"
            )
        found[named.kind] = path
    mask = found.pop("mask", None)
    if not found:
        raise DataError(
            f"{folder}: no image whose name holds a modality (e.g. t1.nii.gz, "
            "patient7_flair.nii.gz, BraTS-GLI-00001-000-t1c.nii.gz)"
        )
    return PatientFiles(found, mask, common_prefix(found))
