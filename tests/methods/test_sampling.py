"""SamplingOptions: the run's defaults, explicit overrides, and its limits."""

from __future__ import annotations

import pytest

from mmhvae.config import SamplingConfig
from mmhvae.methods.sampling import SamplingOptions


def test_overrides_replace_the_runs_defaults_and_none_keeps_them() -> None:
    config = SamplingConfig(temperature=0.3, samples=2, seed=9, batch_size=5)
    assert SamplingOptions.from_config(config) == SamplingOptions(0.3, 2, 9, 5)
    got = SamplingOptions.from_config(config, temperature=0.0, samples=None, device="cuda")
    assert got == SamplingOptions(0.0, 2, 9, 5, "cuda")


def test_the_smallest_valid_values_pass_and_below_them_is_refused() -> None:
    assert SamplingOptions(temperature=0.0, samples=1, batch_size=1).batch_size == 1
    for bad in ({"samples": 0}, {"temperature": -0.1}, {"temperature": float("nan")}):
        with pytest.raises(ValueError):
            SamplingOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch size must be at least 1, got 0"):
        SamplingOptions(batch_size=0)
