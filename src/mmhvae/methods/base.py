"""The one interface every synthesis method implements, so training and evaluation never ask
which method they run.

Shapes: B batch, M modalities, K sampled subsets, C channels (1), H W space (D H W in 3D),
L latent levels. Images are in [-1, 1] with the background at -1; ``present (B, M)`` says
which modalities a case has: an absent modality's image is ignored, whatever it holds.

A method implements two things:

* ``losses(batch, step) -> ELBOTerms`` for training (losses/elbo.py: the one objective);
* ``sampler(images, present, mask, temperature, generator)`` for synthesis: it conditions on
  the given modalities once and returns a function that draws one sample of every modality.

A method may also override ``shared_sampler(images, mask, temperature, reconstruct_given)``,
which returns the sampler for any input pattern of the same images while doing once what all
patterns share (MMHVAE: each given modality's encoder). The evaluator asks a case for every
input subset, so this is where its time goes. With ``reconstruct_given=False`` the caller
reads only the missing modalities (volume synthesis, the evaluator): the given ones come back
as the inputs themselves, and a method may skip computing them (MMHVAE's decoders).

:meth:`Method.synthesize_patterns` is the template around the samplers (input checks, the
number of samples, the deterministic shortcut, Welford mean and std); methods do not override
it. :func:`synthesize_batched` is the one loop that feeds a method batch by batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmhvae.config import SamplingConfig, TrainConfig
from mmhvae.errors import ConfigError
from mmhvae.losses.elbo import ELBOTerms, kl_weight
from mmhvae.methods.sampling import SamplingOptions, Synthesis, sample_statistics

Sampler = Callable[[], Tensor]  # one draw: (B, M, C, ...) in [-1, 1]
# present (B, M) bool, generator -> the sampler of that input pattern
SharedSampler = Callable[[Tensor, "torch.Generator | None"], Sampler]
MIXTURES = ("anchored", "uniform")  # train.mixture: how the K components are drawn


@dataclass(frozen=True)
class Objective:
    """What a method's ``losses`` needs of the training config: K components per example, the
    KL weight schedule (``losses.elbo.kl_weight``) and the std factor of the posterior samples
    (``temperature``)."""

    components: int = TrainConfig.components
    beta: float = TrainConfig.beta
    kl_warmup_steps: int = TrainConfig.kl_warmup_steps
    mixture: str = TrainConfig.mixture
    temperature: float = TrainConfig.posterior_temperature  # std factor of training samples

    def __post_init__(self) -> None:
        if not self.temperature >= 0.0:
            raise ConfigError(f"train.posterior_temperature={self.temperature}: must be 0 or more")
        if self.mixture not in MIXTURES:
            raise ConfigError(
                f"train.mixture={self.mixture!r}: choose one of {', '.join(MIXTURES)}"
            )
        if self.components < 1:
            raise ConfigError(f"train.components={self.components}: must be at least 1")

    @classmethod
    def from_config(cls, train: TrainConfig) -> Objective:
        return cls(
            train.components,
            train.beta,
            train.kl_warmup_steps,
            train.mixture,
            train.posterior_temperature,
        )

    def kl_weight(self, step: int) -> float:
        return kl_weight(step, self.kl_warmup_steps, self.beta)


def inputs_of(batch: dict[str, Tensor]) -> Tensor:
    """What a method reads: batch["inputs"] (the images with intensity augmentation that the
    targets do not have, data/augment.py), else batch["images"] (B, M, C, ...)."""
    return batch.get("inputs", batch["images"])


class Method(nn.Module):
    """Base class: a generator over ``modalities`` (ordered, canonical names)."""

    name: str = ""
    # False: the trainer builds no discriminators and adds no GAN term (e.g. mmhvae-nogan)
    adversarial: bool = True
    # False: fitted in closed form by ``fit_closed_form`` over the training slices, once,
    # instead of optimiser steps on ``losses`` (the regression floor)
    trainable: bool = True

    def __init__(
        self,
        modalities: tuple[str, ...],
        objective: Objective | None = None,
        context: int = 0,
    ) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.objective = objective or Objective()
        # neighbouring axial slices on each side that the method reads (``model.context``):
        # its inputs are then (B, M, (2 * context + 1) * C, ...), the slices in order, and
        # what it synthesises is the centre one's (B, M, C, ...)
        self.context = int(context)
        # modality -> the intensity landmarks its 8-bit training images were mapped to
        # (data/standardise.py): synthesis maps an 8-bit input to them. Kept by the trainer in
        # the checkpoint, set by runs.load_method; empty for a model trained without them.
        self.intensity_landmarks: dict[str, list[float]] = {}

    def centre(self, images: Tensor) -> Tensor:
        """The synthesised slice of inputs (B, M, (2 * context + 1) * C, ...) -> (B, M, C, ...):
        the images themselves without context."""
        if not self.context:
            return images
        c = images.shape[2] // (2 * self.context + 1)
        return images[:, :, self.context * c : (self.context + 1) * c]

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        """One training pass: batch["images"] (B, M, C, ...), ["present"] (B, M) bool,
        ["mask"] (B, 1, ...) bool, on the method's device; batch["inputs"], when there (see
        :func:`inputs_of`), is what the encoders read instead of ``images``."""
        raise NotImplementedError

    @property
    def prefits(self) -> bool:
        """True when the method has closed-form parts to fit before its first optimiser step
        (:meth:`prefit`): the regression floor of ``model.residual_floor``."""
        return False

    def prefit(self, batches: Iterable[dict[str, Tensor]]) -> None:
        """Fit the closed-form parts over every training slice (batches as in losses)."""

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

    def shared_sampler(
        self, images: Tensor, mask: Tensor, temperature: float, reconstruct_given: bool = True
    ) -> SharedSampler:
        """The sampler of any input pattern ``present`` of these images (B, M, C, ...), with
        the work every pattern shares done once. The default shares nothing and always
        reconstructs; ``reconstruct_given=False`` allows a sampler to leave a given modality's
        slot uncomputed (:meth:`synthesize_patterns` overwrites it with the input)."""
        return lambda present, generator: self.sampler(
            images, present, mask, temperature, generator
        )

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
        return self.synthesize_patterns(
            images, [present], mask, temperature, n_samples, [generator]
        )[0]

    @torch.no_grad()
    def synthesize_patterns(
        self,
        images: Tensor,
        presents: Sequence[Tensor],
        mask: Tensor,
        temperature: float,
        n_samples: int,
        generators: Sequence[torch.Generator | None],
        reconstruct_given: bool = True,
    ) -> list[Synthesis]:
        """:meth:`synthesize` for several input patterns of the same images: pattern p
        (presents[p] (B, M)) draws from generators[p], so its result is the one a call of
        its own would give, while what the patterns share is computed once.

        ``reconstruct_given=False``: each given modality comes back as its input image (-1
        outside ``mask``, std 0), and the method may skip decoding it; the missing
        modalities' numbers are the same either way (decoding draws no random numbers).
        """
        for present in presents:
            self.check_inputs(present)
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        mask = mask.bool()
        shared = self.shared_sampler(images, mask, temperature, reconstruct_given)
        deterministic = self.deterministic(temperature)
        outs = [
            draw_statistics(shared(present.bool(), generator), n_samples, deterministic)
            for present, generator in zip(presents, generators, strict=True)
        ]
        if reconstruct_given:
            return outs
        return [
            given_as_input(out, self.centre(images), present.bool(), mask)
            for out, present in zip(outs, presents, strict=True)
        ]

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


def given_as_input(out: Synthesis, images: Tensor, present: Tensor, mask: Tensor) -> Synthesis:
    """``out`` with each given modality's slot set to its input image (-1 outside ``mask``)
    and its std to 0: images (B, M, C, ...), present (B, M) bool, mask (B, 1, ...) bool."""
    given = present.reshape(*present.shape, *([1] * (images.ndim - 2)))  # (B, M, 1, ...)
    inputs = torch.where(mask[:, None], images.float(), torch.tensor(-1.0, device=images.device))
    std = None if out.std is None else torch.where(given, torch.zeros_like(out.std), out.std)
    return Synthesis(mean=torch.where(given, inputs, out.mean), std=std)


def draw_statistics(draw: Sampler, n_samples: int, deterministic: bool) -> Synthesis:
    """Mean and std of ``n_samples`` draws (float32); a deterministic sampler is drawn once
    and its std is exactly 0."""
    if deterministic and n_samples > 1:
        mean = draw().float()
        return Synthesis(mean=mean, std=torch.zeros_like(mean))
    return sample_statistics(lambda: draw().float(), n_samples)


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
    return synthesize_batched_patterns(method, images, [present], mask, options, [None])[0]


@torch.no_grad()
def synthesize_batched_patterns(
    method: Method,
    images: Tensor,
    presents: Sequence[Tensor],
    mask: Tensor,
    options: SamplingOptions,
    generators: Sequence[torch.Generator | None],
    progress: Callable[[int], object] | None = None,
    reconstruct_given: bool = True,
) -> list[Synthesis]:
    """:func:`synthesize_batched` for several input patterns of the same rows (presents[p]
    (N, M), drawing from generators[p]): chunk by chunk, every pattern of a chunk goes
    through :meth:`Method.synthesize_patterns`, so what the patterns share is computed once
    per chunk, and pattern p gets the numbers of its own :func:`synthesize_batched` call
    under a global RNG in the state of generators[p]. ``progress(rows)`` is called after
    each chunk with the number of rows it held; ``reconstruct_given`` as in
    :meth:`Method.synthesize_patterns`."""
    means: list[list[Tensor]] = [[] for _ in presents]
    stds: list[list[Tensor]] = [[] for _ in presents]
    was_training = method.training
    method.eval()
    try:
        for start in range(0, images.shape[0], options.batch_size):
            rows = slice(start, start + options.batch_size)
            outs = method.synthesize_patterns(
                images[rows],
                [present[rows] for present in presents],
                mask[rows],
                options.temperature,
                options.samples,
                generators,
                reconstruct_given,
            )
            for p, out in enumerate(outs):
                means[p].append(out.mean.float())
                if out.std is not None:
                    stds[p].append(out.std.float())
            if progress is not None:  # (no pattern at all: a case with nothing to score)
                progress(int(images[rows].shape[0]))
    finally:
        method.train(was_training)
    return [
        Synthesis(mean=torch.cat(m), std=torch.cat(s) if s else None)
        for m, s in zip(means, stds, strict=True)
    ]
