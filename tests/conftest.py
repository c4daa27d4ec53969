"""Shared fixtures. Real data is found through ONE setting: the environment variable
``MMHVAE_SHARED`` (a folder holding ``data/`` and ``data-more/``), by default ``../shared``
relative to the repository root. Tests that need it are skipped only when it is absent
(it is present in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMHVAE_SHARED", REPO_ROOT.parent / "shared")).resolve()

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: the eight real cases of cases.csv and anatomical templates."""
    path = SHARED / "data"
    if not (path / "cases.csv").is_file():
        pytest.skip(f"real data not found at {path} (set MMHVAE_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared_more() -> Path:
    """``../shared/data-more``: 20 more BraTS 2018 patients with all four contrasts."""
    path = SHARED / "data-more"
    if not (path / "cases.csv").is_file():
        pytest.skip(f"real data not found at {path} (set MMHVAE_SHARED)")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
