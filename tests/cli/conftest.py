"""The shared tiny run of the synthesis tests (trained once per session, cached)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.synthesis.tiny_run import tiny_run


@pytest.fixture(scope="session")
def tiny_model(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(shared_data, tmp_path_factory)
