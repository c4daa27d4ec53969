"""The one interface every synthesis method implements, so training and evaluation never ask
which method they run.

Shapes: B batch, M modalities, K sampled subsets, C channels (1), H W space (D H W in 3D),
L latent levels. Images are in [-1, 1] with the background at -1; ``present (B, M)`` says
which modalities a case has: an absent modality's image is ignored, whatever it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class GeneratorOutput:
    """What one generator pass gives the trainer. All tensors stay on the device (no sync).

    recon:     scalar, the reconstruction loss (L1 of the observed modalities)
    kl:        scalar, KL summed over levels (mean over examples and components); 0 if none
    kl_levels: (L,) the KL per level, for logging
    fakes:     (N, M, C, H, W) every decoded modality of every component, for the GAN terms
    """

    recon: Tensor
    kl: Tensor
    kl_levels: Tensor
    fakes: Tensor


@dataclass
class Synthesis:
    """mean: (B, M, C, H, W) in [-1, 1]; std: (B, M, C, H, W) over samples, or None for one."""

    mean: Tensor
    std: Tensor | None


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


class Method(nn.Module):
    """Base class: a generator over ``modalities`` (ordered, canonical names)."""

    name: str = ""
    # False: the trainer builds no discriminators and adds no GAN term (e.g. mmhvae-nogan)
    adversarial: bool = True

    def __init__(self, modalities: tuple[str, ...]) -> None:
        super().__init__()
        self.modalities = tuple(modalities)

    def generator_output(
        self, images: Tensor, present: Tensor, mask: Tensor, components: int
    ) -> GeneratorOutput:
        """One training pass: images (B, M, C, H, W), present (B, M), mask (B, 1, H, W)."""
        raise NotImplementedError

    @torch.no_grad()
    def synthesize(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float = 0.7,
        n_samples: int = 1,
    ) -> Synthesis:
        """Every modality from the present ones: images (B, M, C, H, W), present (B, M)."""
        raise NotImplementedError

    def check_inputs(self, present: Tensor) -> None:
        """Raise ValueError with a clear message for input patterns the method cannot take.

        The default accepts any non-empty subset of the method's modalities.
        """
        if present.ndim != 2 or present.shape[1] != len(self.modalities):
            raise ValueError(
                f"present must be (B, {len(self.modalities)}) for modalities "
                f"{', '.join(self.modalities)}; got {tuple(present.shape)}"
            )
        if not bool(present.any(dim=1).all()):
            raise ValueError("every example needs at least one present modality")
