"""The one interface every synthesis method implements, so training and evaluation never ask
which method they run.

Shapes: B batch, M modalities, K sampled subsets, C channels (1), H W space (D H W in 3D),
L latent levels. Images are in [-1, 1] with the background at -1; ``present (B, M)`` says
which modalities a case has: an absent modality's image is ignored, whatever it holds.

A method implements two things:

* ``losses(batch, step) -> ELBOTerms`` for training (losses/elbo.py: the one objective);
* ``sampler(images, present, mask, temperature, generator)`` for synthesis: it conditions on
  the given modalities once and returns a function that draws one sample of every modality.

:meth:`Method.synthesize` is the template around the sampler (input checks, the number of
samples, the deterministic shortcut, Welford mean and std); methods do not override it.
:func:`synthesize_batched` is the one loop that feeds a method batch by batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmhvae.config import SamplingConfig, TrainConfig
from mmhvae.errors import ConfigError
from mmhvae.losses.elbo import ELBOTerms, kl_weight
from mmhvae.methods.sampling import SamplingOptions, Synthesis, sample_statistics

Sampler = Callable[[], Tensor]  # one draw: (B, M, C, ...) in [-1, 1]
MIXTURES = ("anchored", "uniform")  # train.mixture: how the K components are drawn


@dataclass(frozen=True)
class Objective:
    """What a method's ``losses`` needs of the training config: K components per example and
    the KL weight schedule (``losses.elbo.kl_weight``)."""

    components: int = TrainConfig.components
    beta: float = TrainConfig.beta
    kl_warmup_steps: int = TrainConfig.kl_warmup_steps
    mixture: str = TrainConfig.mixture

    def __post_init__(self) -> None:
        if self.mixture not in MIXTURES:
            raise ConfigError(
                f"train.mixture={self.mixture!r}: choose one of {', '.join(MIXTURES)}"
            )
        if self.components < 1:
            raise ConfigError(f"train.components={self.components}: must be at least 1")

    @classmethod
    def from_config(cls, train: TrainConfig) -> Objective:
        return cls(train.components, train.beta, train.kl_warmup_steps, train.mixture)

    def kl_weight(self, step: int) -> float:
        return kl_weight(step, self.kl_warmup_steps, self.beta)


class Method(nn.Module):
    """Base class: a generator over ``modalities`` (ordered, canonical names)."""

    name: str = ""
    # False: the trainer builds no discriminators and adds no GAN term (e.g. mmhvae-nogan)
    adversarial: bool = True
    # False: fitted in closed form by ``fit_closed_form`` over the training slices, once,
    # instead of optimiser steps on ``losses`` (the regression floor)
    trainable: bool = True

    def __init__(self, modalities: tuple[str, ...], objective: Objective | None = None) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.objective = objective or Objective()

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        """One training pass: batch["images"] (B, M, C, ...), ["present"] (B, M) bool,
        ["mask"] (B, 1, ...) bool, on the method's device."""
        raise NotImplementedError

    def fit_closed_form(self, batches: Iterable[dict[str, Tensor]]) -> None:
        """Fit a non-``trainable`` method from every training slice (batches as in losses)."""
        raise NotImplementedError

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        """Condition on the ``present`` modalities of images (B, M, C, ...) once; the returned
        function draws one sample of every modality (B, M, C, ...), -1 outside ``mask``."""
        raise NotImplementedError

    def deterministic(self, temperature: float) -> bool:
        """True when every draw at ``temperature`` is the same (so one suffices, std is 0)."""
        return temperature == 0.0

    @torch.no_grad()
    def synthesize(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float = SamplingConfig.temperature,
        n_samples: int = SamplingConfig.samples,
        generator: torch.Generator | None = None,
    ) -> Synthesis:
        """Every modality from the present ones: images (B, M, C, ...), present (B, M),
        mask (B, 1, ...). The mean over ``n_samples`` draws and the per-voxel std
        (population; None for one draw; exactly 0 when the method is deterministic)."""
        self.check_inputs(present)
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        draw = self.sampler(images, present.bool(), mask.bool(), temperature, generator)
        if self.deterministic(temperature) and n_samples > 1:
            mean = draw().float()
            return Synthesis(mean=mean, std=torch.zeros_like(mean))
        return sample_statistics(lambda: draw().float(), n_samples)

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


@torch.no_grad()
def synthesize_batched(
    method: Method,
    images: Tensor,
    present: Tensor,
    mask: Tensor,
    options: SamplingOptions,
) -> Synthesis:
    """``method.synthesize`` over the rows of images (N, M, C, ...), present (N, M) and
    mask (N, 1, ...) in chunks of ``options.batch_size``, the method in eval mode.

    Rows are sampled in order from the current global RNG (use :func:`seeded` around the
    call for repeatable numbers). Returns the concatenated mean and std (float32).
    """
    means: list[Tensor] = []
    stds: list[Tensor] = []
    was_training = method.training
    method.eval()
    try:
        for start in range(0, images.shape[0], options.batch_size):
            rows = slice(start, start + options.batch_size)
            out = method.synthesize(
                images[rows], present[rows], mask[rows], options.temperature, options.samples
            )
            means.append(out.mean.float())
            if out.std is not None:
                stds.append(out.std.float())
    finally:
        method.train(was_training)
    return Synthesis(mean=torch.cat(means), std=torch.cat(stds) if stds else None)
