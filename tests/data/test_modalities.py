import pytest

from mmhvae.data.modalities import (
    CANONICAL_ORDER,
    canonical_modality,
    parse_modalities,
    sort_modalities,
)
from mmhvae.errors import DataError


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("t1ce", "t1ce"),
        ("T1CE", "t1ce"),
        ("t1c", "t1ce"),
        ("t1gd", "t1ce"),
        ("cet1", "t1ce"),
        ("t1n", "t1"),
        ("T1", "t1"),
        ("t2w", "t2"),
        ("t2f", "flair"),
        ("FLAIR", "flair"),
        ("fla", "flair"),
        ("t2flair", "flair"),
        ("US", "us"),
        ("pd", "pd"),
    ],
)
def test_aliases_map_to_canonical_names(alias, canonical):
    assert canonical_modality(alias) == canonical


def test_unknown_modality_names_it_and_lists_known():
    with pytest.raises(DataError, match=r"unknown modality 't5'.*known: t1, t1ce"):
        canonical_modality("t5")


def test_sort_and_parse():
    assert sort_modalities(["flair", "t1c", "T1", "t2w", "t1"]) == ("t1", "t1ce", "t2", "flair")
    assert parse_modalities("t2f, t1n") == ("flair", "t1")  # the user's order is kept
    assert CANONICAL_ORDER[:4] == ("t1", "t1ce", "t2", "flair")
    with pytest.raises(DataError, match="twice"):
        parse_modalities("t1c,t1ce")
    with pytest.raises(DataError, match="empty"):
        parse_modalities(" , ")
