"""Fixtures of the synthesis tests: the shared tiny run and small manifests of real cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_run import INCOMPLETE, tiny_run, write_manifest


@pytest.fixture(scope="session")
def tiny_model(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(shared_data, tmp_path_factory)


@pytest.fixture(scope="session")
def two_cases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tcga-fg-6692 (complete, SRI24 1 mm) and brats2013-pat0005 (flair + t1ce, LPS grid)."""
    folder = tmp_path_factory.mktemp("two-cases")
    return write_manifest(shared_data, ("tcga-fg-6692", INCOMPLETE), folder / "cases.csv")
