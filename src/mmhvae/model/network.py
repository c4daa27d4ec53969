"""MMHVAE: modality encoders -> hierarchical product of experts (shared top-down path) ->
modality decoders. DESIGN.md sections 3-4.

Shapes: B batch, M modalities, K components (input subsets), C image channels, H W space
(D H W in 3D), L latent levels. Each modality's encoder runs once per call; the K components
are stacked along the batch (row k * B + b) for one top-down pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.errors import ConfigError
from mmhvae.methods.base import Synthesis, sample_statistics
from mmhvae.model.decoder import Decoders
from mmhvae.model.encoder import Encoder
from mmhvae.model.topdown import TopDown


@dataclass
class VAEOutput:
    """decoded:     (K, B, M, C, H, W) every modality from every component, in [-1, 1]
    kl:          (L,) KL per level (top first), summed over latent dims, mean over K * B
    kl_examples: (K, B, L) the same before the mean
    """

    decoded: Tensor
    kl: Tensor
    kl_examples: Tensor


def check_model_config(config: ModelConfig) -> None:
    """Raise ConfigError when the architecture cannot be built."""
    scales = len(config.channels)
    if config.spatial_dims not in (2, 3):
        raise ConfigError(f"model.spatial_dims must be 2 or 3, got {config.spatial_dims}")
    if scales < 1 or len(config.latent_channels) != scales:
        raise ConfigError(
            f"model.latent_channels ({len(config.latent_channels)} values) must give one value "
            f"per scale of model.channels ({scales} values)"
        )
    if len(config.topdown_cells) != scales:
        raise ConfigError(
            f"model.topdown_cells ({len(config.topdown_cells)} values) must give one value "
            f"per scale of model.channels ({scales} values)"
        )
    if config.image_size % 2 ** (scales - 1):
        raise ConfigError(
            f"model.image_size {config.image_size} must be divisible by 2**{scales - 1} "
            f"({scales} scales)"
        )
    if min(config.channels) < 1 or min(config.latent_channels) < 0 or config.top_latent_dim < 1:
        raise ConfigError("model.channels and model.top_latent_dim must be positive")


class MMHVAE(nn.Module):
    """The generator over ``modalities`` (ordered canonical names)."""

    def __init__(self, config: ModelConfig, modalities: tuple[str, ...]) -> None:
        super().__init__()
        check_model_config(config)
        if not modalities:
            raise ConfigError("the model needs at least one modality")
        self.config = config
        self.modalities = tuple(modalities)
        self.encoders = nn.ModuleDict({m: Encoder(config) for m in self.modalities})
        self.topdown = TopDown(config)
        self.decoders = Decoders(config, self.modalities)

    @property
    def levels(self) -> int:
        return self.topdown.levels

    def encode(self, images: Tensor, only: list[int] | None = None) -> list[Tensor]:
        """images (B, M, C, ...) -> per scale i the skip features (M', B, c_i, ...).

        In training every encoder runs, also on absent modalities (their images are -1):
        absence is handled by zero expert weight, which avoids a data-dependent branch and a
        host sync. ``only`` (modality indices) runs just those encoders: synthesis uses it when
        the whole batch shares one input pattern, as the slices of one volume do.
        """
        indices = range(len(self.modalities)) if only is None else only
        encoders = list(self.encoders.values())
        per_modality = [encoders[m](images[:, m]) for m in indices]
        return [torch.stack(scale) for scale in zip(*per_modality, strict=True)]

    def forward(
        self,
        images: Tensor,
        present: Tensor,
        subsets: Tensor,
        mask: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> VAEOutput:
        """images (B, M, C, ...), present (B, M) bool, subsets (B, K, M) bool (the experts of
        component k; intersected with ``present``), mask (B, 1, ...) bool."""
        b, k = subsets.shape[:2]
        skips = self.encode(images)
        experts = subsets.bool() & present.bool()[:, None, :]  # (B, K, M)
        weight = experts.transpose(0, 1).reshape(k * b, -1).T  # (M, K*B)
        h, kl = self.topdown(skips, weight, temperature, generator)  # (K*B, c0, ...), (K*B, L)
        masks = mask.expand(k, *mask.shape).reshape(k * b, *mask.shape[1:])  # (K*B, 1, ...)
        decoded = self.decoders(h, masks)  # (K*B, M, C, ...)
        return VAEOutput(
            decoded=decoded.reshape(k, b, *decoded.shape[1:]),  # (K, B, M, C, ...)
            kl=kl.mean(dim=0),
            kl_examples=kl.reshape(k, b, -1),  # (K, B, L)
        )

    @torch.no_grad()
    def synthesize(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float = 0.7,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> Synthesis:
        """Every modality from the present ones, every standard deviation times ``temperature``.

        Returns the mean over ``n_samples`` samples (B, M, C, ...) and the per-voxel standard
        deviation (population, over the samples), or None for one sample. At temperature 0
        every sample is the posterior-mean path, so one pass suffices and std is exactly 0.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        present = present.bool()
        if bool((present == present[:1]).all()):
            # One input pattern for the whole batch (a volume's slices): only the given
            # modalities' encoders and experts run; the product is the same without the
            # zero-precision experts. Synthesis may sync: it is not a training step.
            given = [int(i) for i in present[0].nonzero().flatten()]
            skips = self.encode(images, given)
            weight = torch.ones(len(given), present.shape[0], device=present.device)  # (M', B)
        else:
            skips = self.encode(images)
            weight = present.T  # (M, B): one component, the given modalities
        masks = mask.bool()

        def sample() -> Tensor:
            h, _ = self.topdown(skips, weight, temperature, generator)
            return self.decoders(h, masks).float()  # (B, M, C, ...)

        if temperature == 0.0 and n_samples > 1:
            mean = sample()  # every sample is the posterior-mean path
            return Synthesis(mean=mean, std=torch.zeros_like(mean))
        return sample_statistics(sample, n_samples)
