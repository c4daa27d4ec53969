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
from mmhvae.model.decoder import Decoders, head_blocks
from mmhvae.model.encoder import Encoder, encoder_blocks
from mmhvae.model.topdown import FUSIONS, TopDown


@dataclass
class VAEOutput:
    """decoded:     (K, B, M, C, H, W) every modality from every component, in [-1, 1]
    kl:          (L,) KL per level (top first), summed over latent dims, mean over K * B
    kl_examples: (K, B, L) the same before the mean
    """

    decoded: Tensor
    kl: Tensor
    kl_examples: Tensor


def absent_as_background(images: Tensor, present: Tensor) -> Tensor:
    """images (B, M, C, ...) with every absent modality (present (B, M) False) set to the
    background value -1: what an absent slot holds (NaN, a stale image) never reaches an
    encoder, so it cannot poison the row through 0 * NaN."""
    keep = present.bool().reshape(*present.shape, *([1] * (images.ndim - 2)))  # (B, M, 1, ...)
    return torch.where(keep, images, torch.full((), -1.0, dtype=images.dtype, device=images.device))


def per_component(x: Tensor, k: int) -> Tensor:
    """(B, ...) -> (K*B, ...): the batch repeated for each of K components, row k * B + b =
    x[b] (the row order of the top-down path and the decoders)."""
    return x.expand(k, *x.shape).reshape(k * x.shape[0], *x.shape[1:])


def component_experts(subsets: Tensor, present: Tensor) -> Tensor:
    """subsets (B, K, M), present (B, M) bool -> (K*B, M) bool: the experts of each component
    row (its subset inside the observed set), row k * B + b."""
    b, k = subsets.shape[:2]
    experts = subsets.bool() & present.bool()[:, None, :]  # (B, K, M)
    return experts.transpose(0, 1).reshape(k * b, -1)


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
    per_scale = encoder_blocks(config)
    if len(per_scale) != scales:
        raise ConfigError(
            f"model.encoder_blocks ({len(per_scale)} values) must be one number or one value "
            f"per scale of model.channels ({scales} values)"
        )
    if min(*per_scale, config.decoder_blocks, head_blocks(config)) < 0:
        raise ConfigError("model.encoder_blocks, decoder_blocks and head_blocks must be >= 0")
    fused = config.fused_skips
    if len(set(fused)) != len(fused) or any(not 0 <= i < scales for i in fused):
        raise ConfigError(
            f"model.fused_skips {list(fused)}: scale indices must be distinct, from 0 (full "
            f"resolution) to {scales - 1}"
        )
    if config.context and config.residual_floor:
        raise ConfigError(
            "model.context with model.residual_floor: the floor regression reads one slice; "
            "set one of them"
        )
    if config.context and config.spatial_dims != 2:
        raise ConfigError("model.context (neighbouring slices) needs model.spatial_dims=2")
    if config.fusion not in FUSIONS:
        raise ConfigError(f"model.fusion {config.fusion!r}: choose one of {', '.join(FUSIONS)}")


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

    def encode(
        self,
        images: Tensor,
        only: list[int] | None = None,
        memo: dict[int, list[Tensor]] | None = None,
    ) -> list[Tensor]:
        """images (B, M, C, ...) -> the evidence of the modalities for the top-down path, per
        level (M', B, ...) (:meth:`TopDown.evidence`: a modality's encoder, then the experts'
        projections of its skip features, all of which read that modality alone).

        Every encoder runs on every row, also on absent modalities (their images are -1):
        absence is handled by zero expert weight (training on the CPU skips those rows,
        :meth:`encode_present`). ``only`` (modality indices) runs just those encoders:
        synthesis uses it when the whole batch shares one input pattern, as the slices of one
        volume do. ``memo`` (modality index -> its evidence) keeps it for further calls on the
        same images: the evaluator asks one batch for up to 14 input subsets of four contrasts.
        """
        indices = range(len(self.modalities)) if only is None else only
        memo = {} if memo is None else memo
        encoders = list(self.encoders.values())
        for m in indices:
            if m not in memo:
                memo[m] = self.topdown.evidence(encoders[m](images[:, m]))
        return [torch.stack(level) for level in zip(*(memo[m] for m in indices), strict=True)]

    def encode_present(self, images: Tensor, present: Tensor) -> list[Tensor]:
        """:meth:`encode` for training: images (B, M, C, ...), present (B, M) bool -> the
        evidence per level (M, B, ...), where on the CPU each encoder runs only on the rows
        that have its modality and an absent row's evidence is 0.

        An absent modality's expert has zero precision in every product, so its evidence
        changes nothing but the work (a quarter of the encoders' on data with a fifth of the
        contrasts missing). On an accelerator every encoder runs on every row instead: static
        shapes and no host sync per step are worth more there than the rows saved. An
        encoder runs even on zero rows, so each of its parameters gets a (zero) gradient
        every step, as DDP without ``find_unused_parameters`` requires."""
        if images.device.type != "cpu" or bool(present.all()):
            return self.encode(images)
        b = images.shape[0]
        per_modality = []
        for m, encoder in enumerate(self.encoders.values()):
            rows = present[:, m].nonzero().flatten()  # (B_m,)
            if rows.numel() == b:
                per_modality.append(self.topdown.evidence(encoder(images[:, m])))
                continue
            levels = self.topdown.evidence(encoder(images[rows, m]))
            per_modality.append(
                [
                    level.new_zeros((b, *level.shape[1:])).index_copy(0, rows, level)
                    for level in levels
                ]
            )
        return [torch.stack(level) for level in zip(*per_modality, strict=True)]

    def forward(
        self,
        images: Tensor,
        present: Tensor,
        subsets: Tensor,
        mask: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        floor: Tensor | None = None,
    ) -> VAEOutput:
        """images (B, M, C, ...), present (B, M) bool, subsets (B, K, M) bool (the experts of
        component k; intersected with ``present``), mask (B, 1, ...) bool; ``floor``
        (K*B, M, C, ...) what the decoders correct (``model.residual_floor``), or None."""
        b, k = subsets.shape[:2]
        evidence = self.encode_present(absent_as_background(images, present), present)
        weight = component_experts(subsets, present).T  # (M, K*B)
        h, kl = self.topdown(evidence, weight, temperature, generator)  # (K*B, c0, ...), (K*B, L)
        assert kl is not None
        decoded = self.decoders(h, per_component(mask, k), floor)  # (K*B, M, C, ...)
        return VAEOutput(
            decoded=decoded.reshape(k, b, *decoded.shape[1:]),  # (K, B, M, C, ...)
            kl=kl.mean(dim=0),
            kl_examples=kl.reshape(k, b, -1),  # (K, B, L)
        )

    def condition(
        self, images: Tensor, present: Tensor, memo: dict[int, list[Tensor]] | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """Encode what a synthesis call is given: images (B, M, C, ...), present (B, M) bool ->
        (evidence per level (M', B, ...), expert weights (M', B)) for :meth:`draw`.

        When the whole batch shares one input pattern (a volume's slices), only the given
        modalities' encoders run and the product leaves out the zero-precision experts: the
        same posterior for less work; ``memo`` then carries the encoders' outputs from one
        call on these images to the next (see :meth:`encode`). This may sync: synthesis is not
        a training step.
        """
        present = present.bool()
        if bool((present == present[:1]).all()):
            given = [int(i) for i in present[0].nonzero().flatten()]
            weight = torch.ones(len(given), present.shape[0], device=present.device)  # (M', B)
            return self.encode(images, given, memo), weight
        return self.encode(absent_as_background(images, present)), present.T  # (M, B)

    def draw(
        self,
        evidence: list[Tensor],
        weight: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None = None,
        floor: Tensor | None = None,
        heads: list[int] | None = None,
    ) -> Tensor:
        """One sample of every modality from the posterior given by :meth:`condition`, every
        latent std times ``temperature``: (B, M, C, ...) in [-1, 1], -1 outside ``mask``
        (``floor`` (B, M, C, ...): what the decoders correct, as in :meth:`forward``;
        ``heads``: decode only these modality indices, the others' slots stay -1)."""
        h, _ = self.topdown(evidence, weight, temperature, generator, with_kl=False)
        return self.decoders(h, mask.bool(), floor, heads)
