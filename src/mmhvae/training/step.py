"""One optimiser step: the networks and their optimisers, the generator half (the method's
objective plus the adversarial term) and the discriminator half. ``training/trainer.py``
orchestrates steps; this file is what a step computes.

Host syncs: none. Loss terms are summed on the device (:class:`LossMeter`) and read back
only when a log row is due.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.losses.elbo import ELBOTerms
from mmhvae.losses.gan import generator_adversarial, lsgan_discriminator
from mmhvae.methods import build_method
from mmhvae.methods.base import Method
from mmhvae.model.discriminator import Discriminators
from mmhvae.training import distributed as ddp
from mmhvae.training.schedules import disc_active, gan_active

OPTIMIZERS = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass
class Networks:
    """The trained modules and their optimisers. ``generator`` / ``critic`` are the DDP views."""

    method: Method
    discs: Discriminators | None
    generator: nn.Module
    critic: nn.Module | None
    opt_g: torch.optim.Optimizer | None  # None for a method fitted in closed form
    opt_d: torch.optim.Optimizer | None
    # reals of every modality for the critic (empty while no discriminator step ran)
    pool: RealPool = field(default_factory=lambda: RealPool())


class GeneratorPass(nn.Module):
    """``method.losses`` as a forward(), so DDP sees (and syncs) the generator."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        return self.method.losses(batch, step)


class CriticLoss(nn.Module):
    """Discriminator loss as a forward(), so DDP syncs the discriminators.

    sum_m LSGAN_D(D_m(real_m), D_m(fake_m)), real_m weighted by have[:, m]: each D_m learns
    only from slots that HOLD a real m (the case's own, or the :class:`RealPool`'s), never from
    an absent modality's placeholder (no boolean indexing: no sync, fixed shapes).
    """

    def __init__(self, discs: Discriminators) -> None:
        super().__init__()
        self.discs = discs

    def forward(self, real: Tensor, have: Tensor, fakes: Tensor) -> Tensor:
        real_scores = self.discs(real)  # (B, M, P)
        fake_scores = self.discs(fakes)  # (K*B, M, P)
        terms = [
            lsgan_discriminator(real_scores[:, m], fake_scores[:, m], have[:, m])
            for m in range(real.shape[1])
        ]
        return torch.stack(terms).sum()


class RealPool:
    """The latest real image of every modality in every batch slot, so that each D_m sees
    real m at every step, even when no case of the batch has m (the dataset-level information
    the paper gives the discriminators on incomplete data).

    ``images (B, M, C, ...)`` holds, for slot b and modality m, the last real m image a batch
    brought in slot b; ``filled (B, M)`` which slots have one. Shapes are fixed and updates
    are ``torch.where``: no host sync. Batches shuffle cases, so a pooled image is another
    case's. Saved in the checkpoint's ``extra`` for an exact resume.
    """

    def __init__(self) -> None:
        self.images: Tensor | None = None
        self.filled: Tensor | None = None

    def reals(self, images: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, M, C, ...), present (B, M) -> (reals, weight): the batch's own image
        where the case has m, else the pool's; weight (B, M) = has one. Then the pool keeps
        the reals."""
        if self.images is None or self.images.shape != images.shape:
            self.images = torch.full_like(images, -1.0)
            self.filled = torch.zeros_like(present, dtype=torch.bool)
        assert self.filled is not None
        have = present.bool()
        slot = have.reshape(*have.shape, *([1] * (images.ndim - 2)))
        reals = torch.where(slot, images, self.images).detach()
        weight = have | self.filled
        self.images, self.filled = reals, weight
        return reals, weight

    def state(self) -> dict[str, Any]:
        if self.images is None or self.filled is None:
            return {}
        return {"images": self.images.cpu(), "filled": self.filled.cpu()}

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        if state:
            self.images = state["images"].to(device)
            self.filled = state["filled"].to(device)


class LossMeter:
    """Sums of loss terms on the device, read back (one sync) when a log row is due."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums: dict[str, Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, Tensor]) -> None:
        for key, value in values.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1

    def flush(self, info: ddp.DistInfo) -> dict[str, float]:
        """Means since the last flush (averaged over ranks), as floats; then reset."""
        if not self.count:
            return {}
        keys = list(self.sums)
        means = torch.stack([self.sums[k] for k in keys]) / self.count  # (T,)
        values = ddp.all_reduce_mean(means, info).tolist()
        self.sums, self.count = {}, 0
        return dict(zip(keys, values, strict=True))

    def state(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load(self, state: dict[str, Any]) -> None:
        self.sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        self.count = int(state["count"])


def train_step(
    nets: Networks,
    batch: dict[str, Any],
    step: int,
    config: Config,
    meter: LossMeter,
    info: ddp.DistInfo,
    flush: bool = False,
    progress: float = 0.0,
) -> dict[str, float] | None:
    """One optimiser step of the generator, then one of the discriminators.

    ``progress`` (the part of the run done, for fractional GAN onsets) is given by the loop.

    Returns the mean loss terms since the last flush as floats when ``flush``, else None
    (the terms stay on the device: no host sync).
    """
    t = config.train
    device = info.device
    on_device = {
        k: batch[k].to(device, non_blocking=True)
        for k in ("images", "inputs", "present", "mask")
        if k in batch
    }
    zero = torch.zeros((), device=device)
    terms: dict[str, Tensor] = {"gan_g": zero, "disc": zero}  # fixed columns: 0 while off

    # Generator half: the method's negative ELBO per voxel + the adversarial term.
    assert nets.opt_g is not None, "train_step needs a trainable method"
    nets.opt_g.zero_grad(set_to_none=True)
    with _autocast(config, device):
        elbo: ELBOTerms = nets.generator(on_device, step)
        loss = elbo.loss
        if nets.discs is not None and gan_active(
            step, t.gan, t.gan_start, t.gan_start_fraction, progress
        ):
            with _frozen(nets.discs):
                gan_g = generator_adversarial(nets.discs(elbo.fakes))  # scores (K*B, M, P)
            loss = loss + t.gan_weight * gan_g
            terms["gan_g"] = gan_g
    loss.backward()
    terms["grad_norm"] = nn.utils.clip_grad_norm_(
        nets.method.parameters(), t.grad_clip, foreach=True
    )
    nets.opt_g.step()
    terms |= {"loss": loss, "recon": elbo.distortion, "kl": elbo.rate}
    terms["kl_voxel"] = elbo.rate_per_voxel  # the loss's unit: KL per reconstructed voxel
    terms |= {f"kl_{level}": value for level, value in enumerate(elbo.rate_levels.detach().float())}

    # Discriminator half: real m images (the batch's, else the pool's) vs the detached fakes.
    if (
        nets.critic is not None
        and nets.opt_d is not None
        and disc_active(step, t.gan, t.disc_start, t.disc_start_fraction, progress)
    ):
        reals, have = nets.pool.reals(on_device["images"], on_device["present"])
        nets.opt_d.zero_grad(set_to_none=True)
        with _autocast(config, device):
            disc = nets.critic(reals, have, elbo.fakes.detach())
        disc.backward()
        assert nets.discs is not None
        nn.utils.clip_grad_norm_(nets.discs.parameters(), t.grad_clip, foreach=True)
        nets.opt_d.step()
        terms["disc"] = disc

    meter.add(terms)
    return meter.flush(info) if flush else None


def build_networks(config: Config, modalities: tuple[str, ...], info: ddp.DistInfo) -> Networks:
    t = config.train
    if t.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer={t.optimizer!r}: choose one of {', '.join(sorted(OPTIMIZERS))}"
        )
    method = build_method(config, modalities).to(info.device)
    adversarial = t.gan and method.adversarial
    discs = Discriminators(modalities, config.model).to(info.device) if adversarial else None
    if info.device.type == "cuda" and t.channels_last and config.model.spatial_dims == 2:
        method = method.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if discs is not None:
            discs = discs.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    # foreach: one kernel per operation over all ~450 parameter tensors; torch picks it only
    # on CUDA by itself, and the per-tensor loop cost ~35 ms of a ~600 ms CPU step
    opt_g = (
        OPTIMIZERS[t.optimizer](method.parameters(), lr=t.lr, foreach=True)
        if method.trainable
        else None
    )
    opt_d = (
        torch.optim.Adam(discs.parameters(), lr=t.lr_disc, betas=(0.5, 0.999), foreach=True)
        if discs
        else None
    )
    return Networks(
        method=method,
        discs=discs,
        generator=ddp.wrap_ddp(GeneratorPass(method), info) if method.trainable else method,
        critic=ddp.wrap_ddp(CriticLoss(discs), info) if discs is not None else None,
        opt_g=opt_g,
        opt_d=opt_d,
    )


def _autocast(config: Config, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when ``train.amp``; full precision on the CPU."""
    if device.type == "cuda" and config.train.amp:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Any:
    """No parameter gradients for ``module`` (the generator's adversarial term must not train
    the discriminators); gradients still flow through it to its input."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)
