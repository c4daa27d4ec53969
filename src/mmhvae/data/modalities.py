"""Canonical modality names and the aliases datasets use for them.

A model is trained for an ordered tuple of canonical names; every layout maps its own
spellings (BraTS 2021 ``t1ce``, BraTS 2023+ ``t1n t1c t2w t2f``, ReMIND ``cet1``) through
:func:`canonical_modality`, so the rest of the package never sees an alias.
"""

from __future__ import annotations

from collections.abc import Iterable

from mmhvae.errors import DataError

# The order a model lists its modalities in when the user does not choose one (BraTS order
# first, then the other MR contrasts, then ultrasound and CT).
CANONICAL_ORDER: tuple[str, ...] = (
    "t1",
    "t1ce",
    "t2",
    "flair",
    "pd",
    "swi",
    "dwi",
    "adc",
    "us",
    "ct",
)

# Preferred reference grid when a case's volumes disagree: the contrast that is usually
# acquired at the highest in-plane resolution comes first.
REFERENCE_PREFERENCE: tuple[str, ...] = ("t1ce", "t1", "t2", "flair", "pd", "us") + tuple(
    m for m in CANONICAL_ORDER if m not in ("t1ce", "t1", "t2", "flair", "pd", "us")
)

ALIASES: dict[str, str] = {
    # T1 (native, pre-contrast)
    "t1n": "t1",
    "t1w": "t1",
    "t1native": "t1",
    "t1pre": "t1",
    "native_t1": "t1",
    # T1 with contrast (gadolinium)
    "t1c": "t1ce",
    "t1gd": "t1ce",
    "cet1": "t1ce",
    "t1post": "t1ce",
    "t1_gd": "t1ce",
    "t1_ce": "t1ce",
    "t1wce": "t1ce",
    "t1contrast": "t1ce",
    # T2
    "t2w": "t2",
    # FLAIR
    "t2f": "flair",
    "fla": "flair",
    "t2flair": "flair",
    "t2_flair": "flair",
    "t2-flair": "flair",
    # others
    "pdw": "pd",
    "ius": "us",
    "ultrasound": "us",
}


def canonical_modality(name: str) -> str:
    """Canonical name of ``name`` (case-insensitive); raises DataError for an unknown one."""
    key = str(name).strip().lower()
    if key in CANONICAL_ORDER:
        return key
    if key in ALIASES:
        return ALIASES[key]
    known = ", ".join(CANONICAL_ORDER)
    aliases = ", ".join(sorted(ALIASES))
    raise DataError(f"unknown modality {name!r} (known: {known}; aliases: {aliases})")


def is_modality(name: str) -> bool:
    """Whether ``name`` is a canonical name or an alias."""
    key = str(name).strip().lower()
    return key in CANONICAL_ORDER or key in ALIASES


def sort_modalities(names: Iterable[str]) -> tuple[str, ...]:
    """Canonical names of ``names``, without duplicates, in :data:`CANONICAL_ORDER`."""
    unique = {canonical_modality(n) for n in names}
    return tuple(sorted(unique, key=CANONICAL_ORDER.index))


def parse_modalities(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"t1,T2w"`` -> ``("t1", "t2")``: the user's order is kept, duplicates are refused."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [canonical_modality(item) for item in (i.strip() for i in items) if item]
    if not names:
        raise DataError(f"modality list {text!r} is empty (known: {', '.join(CANONICAL_ORDER)})")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"modality list {text!r} names {duplicates[0]!r} twice")
    return tuple(names)
