"""Sampling options and statistics shared by every method and every caller of synthesis.

Shapes: N rows (slices), M modalities, C channels, H W space (D H W in 3D). Images are in
[-1, 1]; ``present (N, M)`` says which modalities each row gives.

:class:`SamplingOptions` is the one description of how to sample (temperature, samples, seed,
batch size, device); its defaults are the run config's ``sampling`` section
(``mmhvae.config.SamplingConfig``), so the temperature default is stated once.
:func:`mmhvae.methods.base.synthesize_batched` is the one loop that feeds a method batch by
batch: synthesis, validation and the training image grids all go through it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mmhvae.config import SamplingConfig

DEVICES = ("auto", "cpu", "cuda")  # what --device accepts everywhere


@dataclass
class Synthesis:
    """mean: (N, M, C, ...) in [-1, 1]; std: (N, M, C, ...) over samples, or None for one."""

    mean: Tensor
    std: Tensor | None


@dataclass(frozen=True)
class SamplingOptions:
    """How to sample: the posterior std is scaled by ``temperature`` at every latent group;
    ``samples`` draws give a mean and a per-voxel std; ``seed`` makes a call repeatable;
    ``batch_size`` rows go through the method at once, on ``device``."""

    temperature: float = SamplingConfig.temperature
    samples: int = SamplingConfig.samples
    seed: int = SamplingConfig.seed
    batch_size: int = SamplingConfig.batch_size
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if not self.temperature >= 0.0:  # also refuses NaN
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")

    @classmethod
    def from_config(cls, config: SamplingConfig, **overrides: Any) -> SamplingOptions:
        """The run's sampling defaults, with the ``overrides`` that are not None."""
        values = dataclasses.asdict(config)
        values |= {k: v for k, v in overrides.items() if v is not None}
        return cls(**values)


def sample_statistics(sample: Callable[[], Tensor], n_samples: int) -> Synthesis:
    """Mean and per-voxel standard deviation (population) of ``n_samples`` calls of ``sample``.

    Welford's running mean and sum of squared deviations: stable in float32, and only one
    sample is held at a time. One sample gives ``std=None``.
    """
    mean = sample()
    if n_samples == 1:
        return Synthesis(mean=mean, std=None)
    m2 = torch.zeros_like(mean)
    for i in range(2, n_samples + 1):
        x = sample()
        delta = x - mean
        mean = mean + delta / i
        m2 = m2 + delta * (x - mean)
    return Synthesis(mean=mean, std=(m2 / n_samples).clamp_min(0.0).sqrt())


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block under a forked global RNG seeded with ``seed``: the numbers repeat, and
    the caller's RNG streams (the training ones, when validating) are left untouched."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
