"""The real tcga-fg-6692 case, discovered and loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tcga_files(shared_data: Path):
    from mmhvae.data.layouts import discover_cases

    cases = {c.case_id: c for c in discover_cases(shared_data / "cases.csv")}
    return cases


@pytest.fixture(scope="session")
def tcga_case(tcga_files):
    from mmhvae.data.case import load_case

    return load_case(tcga_files["tcga-fg-6692"])
