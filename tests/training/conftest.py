"""Fixtures of the trainer tests: three real cases (two complete, one with FLAIR and T1ce
only) and one prepared-case cache shared by every run of the session."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from mmhvae.config import Config
from mmhvae.losses.elbo import ELBOTerms
from mmhvae.methods.base import Method, Sampler

CASES = ("brats-met-00110", "tcga-fg-6692", "brats2013-pat0003")


@pytest.fixture(scope="session")
def three_cases(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV manifest of three real cases (absolute paths into the shared data)."""
    folder = tmp_path_factory.mktemp("three-cases")
    with (shared_data / "cases.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["case"] in CASES]
    path = folder / "cases.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "modality", "path", "kind"])
        for row in rows:
            writer.writerow([row["case"], row["modality"], shared_data / row["path"], row["kind"]])
    return path


@pytest.fixture(scope="session")
def case_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("case-cache")


@pytest.fixture(scope="session")
def quick(case_cache: Path) -> list[str]:
    """Overrides of the tiny config that keep a test run to seconds."""
    return [
        f"data.cache_dir={case_cache}",
        "train.batch_size=2",
        "train.val_slices=4",
        "train.num_workers=0",
        "train.log_every=1",
        "train.val_every=1000",
        "train.image_every=1000",
        "train.checkpoint_every=1000",
    ]


class FakeMethod(Method):
    """One 1x1 conv per modality from the mean of the present images, plus a little noise:
    cheap, trainable, random like a VAE; its losses turn NaN after ``nan_after`` calls."""

    name = "fake"
    nan_after = 10**9

    def __init__(self, modalities: tuple[str, ...]) -> None:
        super().__init__(modalities)
        self.heads = nn.Conv2d(1, len(modalities), 1)
        self.calls = 0

    def _decode(self, images: Tensor, present: Tensor) -> Tensor:
        weight = present.float()[:, :, None, None, None]  # (B, M, 1, 1, 1)
        pooled = (images * weight).sum(1) / weight.sum(1).clamp_min(1)  # (B, C, H, W)
        return torch.tanh(self.heads(pooled))[:, :, None]  # (B, M, 1, H, W)

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        self.calls += 1
        images, present = batch["images"], batch["present"]
        # noise from the global RNG: resuming must restore its state to repeat the losses
        decoded = self._decode(images, present) + 0.01 * torch.randn_like(images)
        weight = present.float()[:, :, None, None, None]
        recon = ((decoded - images).abs() * weight).mean()
        if self.calls > self.nan_after:
            recon = recon * float("nan")
        zero = recon * 0
        return ELBOTerms(
            loss=recon,
            distortion=recon,
            rate=zero,
            rate_levels=zero[None],
            rate_per_voxel=zero,
            fakes=decoded,
        )

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        return lambda: self._decode(images, present)


def build_fake(config: Config, modalities: tuple[str, ...]) -> Method:
    return FakeMethod(modalities)
