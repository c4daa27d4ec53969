"""The training loop. ``fit()`` reads as a table of contents: data, networks, optimisers, then
``train_step()`` (a generator half and a discriminator half) and ``validate()``.

Host syncs: none per step. Loss terms are summed on the device (:class:`LossMeter`) and read
back every ``train.log_every`` steps, where a non-finite loss also stops the run. Checkpoints
hold everything a step depends on (weights, optimisers, RNG states, the meter, the step), and
the data stream is a pure function of the step (training/data.py), so ``resume=True``
continues exactly as if the run had never stopped. Under torchrun each rank trains on
``batch_size / world_size`` slices; the learning rate is not rescaled (the global batch is
the configured one). Only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn
from tqdm import tqdm

from mmhvae import output_folder
from mmhvae.config import Config, TrainConfig, config_to_dict
from mmhvae.errors import CheckpointError, ConfigError, MMHVAEError, OutputExistsError
from mmhvae.files import write_bytes_atomic
from mmhvae.losses.gan import lsgan_discriminator, lsgan_generator
from mmhvae.methods import build_method
from mmhvae.methods.base import Method
from mmhvae.model.discriminator import Discriminators
from mmhvae.training import distributed as ddp
from mmhvae.training.checkpoint import (
    CHECKPOINT_FORMAT,
    capture_rng,
    checkpoint_config,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from mmhvae.training.data import TrainingData, batch_stream, build_training_data, stack_rows
from mmhvae.training.images import sample_grid
from mmhvae.training.logs import RunLog, write_config
from mmhvae.training.schedules import disc_active, gan_active, kl_weight, lr_factor
from mmhvae.training.validation import validate

OPTIMIZERS = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
# What a run writes (output_folder patterns): --overwrite deletes these and nothing else.
RUN_FILES = (
    "checkpoints/last.pt",
    "checkpoints/best.pt",
    "checkpoints/*.pt.sha256",
    "tensorboard/events.out.tfevents.*",
    "images/step_[0-9]*.png",
    "losses.csv",
    "validation.csv",
    "config.yaml",
    "run.yaml",
)
IMAGE_SLICES = 2  # validation slices shown in each PNG grid
VAL_BATCH = 32  # slices per synthesis call in validation (no gradients: cheap in memory)


@dataclass
class TrainResult:
    """What a finished run gives back (the files are in ``run_dir``)."""

    run_dir: Path
    steps: int
    checkpoint: Path
    best_checkpoint: Path | None
    first_validation: dict[str, float]  # before the first step ({} when resumed)
    validation: dict[str, float]  # after the last step
    losses: dict[str, float]  # the last logged training losses
    method: Method = field(repr=False)


@dataclass
class Networks:
    """The trained modules and their optimisers. ``generator`` / ``critic`` are the DDP views."""

    method: Method
    discs: Discriminators | None
    generator: nn.Module
    critic: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None


class GeneratorPass(nn.Module):
    """``method.generator_output`` as a forward(), so DDP sees (and syncs) the generator."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, images: Tensor, present: Tensor, mask: Tensor, k: int) -> tuple[Tensor, ...]:
        out = self.method.generator_output(images, present, mask, k)
        return out.recon, out.kl, out.kl_levels, out.fakes


class CriticLoss(nn.Module):
    """Discriminator loss as a forward(), so DDP syncs the discriminators.

    sum_m LSGAN_D(D_m(real_m), D_m(fake_m)), real_m weighted by present[:, m]: each D_m learns
    from the batch's cases that HAVE modality m (no boolean indexing: no sync, fixed shapes).
    """

    def __init__(self, discs: Discriminators) -> None:
        super().__init__()
        self.discs = discs

    def forward(self, real: Tensor, present: Tensor, fakes: Tensor) -> Tensor:
        real_scores = self.discs(real)  # (B, M, P)
        fake_scores = self.discs(fakes)  # (K*B, M, P)
        terms = [
            lsgan_discriminator(real_scores[:, m], fake_scores[:, m], present[:, m])
            for m in range(real.shape[1])
        ]
        return torch.stack(terms).sum()


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


def fit(
    config: Config,
    data: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    device: str | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``config.method`` on the dataset ``data``; write the run folder ``run_dir``.

    ``resume`` continues ``run_dir/checkpoints/last.pt`` (the model, method and modalities must
    match; ``train.steps`` may grow). A run folder with a checkpoint is never reused without
    ``resume`` or ``overwrite``. Under torchrun (RANK, WORLD_SIZE set) this is one DDP rank:
    the global batch ``train.batch_size`` is split across ranks, the lr is not rescaled.
    """
    info = ddp.setup_distributed(device)
    try:
        return _fit(config, Path(data), Path(run_dir), resume, overwrite, info)
    finally:
        ddp.cleanup_distributed(info)


def _fit(
    config: Config, data: Path, run_dir: Path, resume: bool, overwrite: bool, info: ddp.DistInfo
) -> TrainResult:
    t = config.train
    batch_size = ddp.per_rank_batch(t.batch_size, info.world_size)
    state = _prepare_run_dir(config, run_dir, resume, overwrite, info)
    start = int(state["step"]) if state else 0
    cache = Path(config.data.cache_dir) if config.data.cache_dir else run_dir / "cache"
    _seed_everything(t.seed)  # identical initial weights on every rank
    dataset = build_training_data(config, data, cache, progress=info.is_main)
    nets = build_networks(config, dataset.modalities, info)
    meter = LossMeter(info.device)
    extra: dict[str, Any] = {"best_val": math.inf, "elapsed": 0.0}
    if state:
        _check_compatible(state, config, dataset.modalities, run_dir)
        extra = _restore(state, nets, meter, info)
    else:
        _seed_everything(t.seed + 1 + info.rank)  # different subsets and noise per rank
    val_batch = stack_rows(dataset.val, dataset.val_rows, info.device)
    batches = batch_stream(dataset, config, info, batch_size, start)
    log = RunLog(run_dir, resume_step=start if state else None, enabled=info.is_main)
    if info.is_main:
        write_config(config, run_dir / "config.yaml")
        # Where the run learnt from: evaluation derives the copy reference from these cases.
        record = {"data": str(data.resolve()), "modalities": list(dataset.modalities)}
        write_bytes_atomic(run_dir / "run.yaml", yaml.safe_dump(record).encode())
    clock = _Clock(float(extra["elapsed"]))
    first_val: dict[str, float] = {}
    if not state and info.is_main:
        first_val = validate(nets.method, val_batch, t.temperature, t.seed, VAL_BATCH)
        log.validation(0, clock.now(), first_val)
    last_val, losses = dict(first_val), {}
    final = max(start, t.steps)
    bar = tqdm(total=t.steps, initial=start, unit="step", disable=not info.is_main, desc="train")
    spent = _budget_spent(clock, t, info)
    for step in range(start, t.steps):
        done = step + 1
        logging_due = done % t.log_every == 0 or done == t.steps
        lrs = _set_learning_rates(nets, config, step, spent)
        logged = train_step(nets, next(batches), step, config, meter, info, logging_due)
        spent = _budget_spent(clock, t, info)
        last = done == t.steps or spent >= 1.0
        _progress(bar, done, spent, t.steps)
        if logged is not None:
            losses = logged | lrs | {"kl_weight": kl_weight(step, t.kl_warmup_steps, t.beta)}
            _stop_if_not_finite(losses, done, run_dir)
            log.losses(done, clock.now(), losses)
            bar.set_postfix({k: f"{losses[k]:.4g}" for k in ("loss", "recon", "kl") if k in losses})
        if info.is_main and (done % t.val_every == 0 or last):
            last_val = validate(nets.method, val_batch, t.temperature, t.seed, VAL_BATCH)
            log.validation(done, clock.now(), last_val)
            if last_val["loss"] < extra["best_val"]:
                extra["best_val"] = last_val["loss"]
                best = run_dir / "checkpoints" / "best.pt"
                _save(best, config, dataset, nets, meter, done, extra, clock, info, gather=False)
        if info.is_main and (done % t.image_every == 0 or last):
            names = val_batch["names"][:IMAGE_SLICES]
            rows = {k: v[:IMAGE_SLICES] for k, v in val_batch.items() if k != "names"}
            log.image(done, sample_grid(nets.method, rows, names, t.temperature, t.seed))
        if done % t.checkpoint_every == 0 or last:
            _save(
                run_dir / "checkpoints" / "last.pt",
                config,
                dataset,
                nets,
                meter,
                done,
                extra,
                clock,
                info,
            )
        if last:
            final = done
            break
    bar.close()
    log.close()
    best = run_dir / "checkpoints" / "best.pt"
    return TrainResult(
        run_dir=run_dir,
        steps=final,
        checkpoint=run_dir / "checkpoints" / "last.pt",
        best_checkpoint=best if best.is_file() else None,
        first_validation=first_val,
        validation=last_val,
        losses=losses,
        method=nets.method,
    )


def train_step(
    nets: Networks,
    batch: dict[str, Any],
    step: int,
    config: Config,
    meter: LossMeter,
    info: ddp.DistInfo,
    flush: bool = False,
) -> dict[str, float] | None:
    """One optimiser step of the generator, then one of the discriminators.

    Returns the mean loss terms since the last flush as floats when ``flush``, else None
    (the terms stay on the device: no host sync).
    """
    t = config.train
    device = info.device
    images = batch["images"].to(device, non_blocking=True)  # (B, M, C, H, W)
    present = batch["present"].to(device, non_blocking=True)  # (B, M) bool
    mask = batch["mask"].to(device, non_blocking=True)  # (B, 1, H, W) bool
    zero = torch.zeros((), device=device)
    terms: dict[str, Tensor] = {"gan_g": zero, "disc": zero}  # fixed columns: 0 while off

    # Generator half: recon + beta(step) KL + adversarial term over EVERY decoded modality
    # (absent ones included: it is their only training signal in incomplete cases).
    nets.opt_g.zero_grad(set_to_none=True)
    with _autocast(config, device):
        recon, kl, kl_levels, fakes = nets.generator(images, present, mask, t.components)
        # The rate is weighed per voxel, like the distortion (a mean L1 per voxel): the ELBO
        # of a Laplace likelihood divided by the voxels of one image. Unnormalised, the KL in
        # nats (~1e4 for tiny at the start) would swamp the L1 and collapse the posterior.
        voxels = images[0, 0, 0].numel()
        loss = recon + kl_weight(step, t.kl_warmup_steps, t.beta) * kl / voxels
        if nets.discs is not None and gan_active(step, t.gan, t.gan_start):
            with _frozen(nets.discs):
                scores = nets.discs(fakes)  # (K*B, M, P)
                gan_g = torch.stack(
                    [lsgan_generator(scores[:, m]) for m in range(scores.shape[1])]
                ).sum()
            loss = loss + t.gan_weight * gan_g
            terms["gan_g"] = gan_g
    loss.backward()
    terms["grad_norm"] = nn.utils.clip_grad_norm_(nets.method.parameters(), t.grad_clip)
    nets.opt_g.step()
    terms |= {"loss": loss, "recon": recon, "kl": kl}
    terms |= {f"kl_{level}": value for level, value in enumerate(kl_levels.detach().float())}

    # Discriminator half: real m images of the cases that have m vs the detached fakes.
    if (
        nets.critic is not None
        and nets.opt_d is not None
        and disc_active(step, t.gan, t.disc_start)
    ):
        nets.opt_d.zero_grad(set_to_none=True)
        with _autocast(config, device):
            disc = nets.critic(images, present, fakes.detach())
        disc.backward()
        assert nets.discs is not None
        nn.utils.clip_grad_norm_(nets.discs.parameters(), t.grad_clip)
        nets.opt_d.step()
        terms["disc"] = disc

    meter.add(terms)
    return meter.flush(info) if flush else None


def _prepare_run_dir(
    config: Config, run_dir: Path, resume: bool, overwrite: bool, info: ddp.DistInfo
) -> dict[str, Any] | None:
    """Refuse to clobber a run; clear it for ``overwrite``; load its checkpoint for ``resume``."""
    last = run_dir / "checkpoints" / "last.pt"
    if resume:
        if not last.is_file():
            raise CheckpointError(f"{run_dir}: nothing to resume ({last} not found)")
        return load_checkpoint(last, map_location="cpu")
    if last.is_file() and not overwrite:
        raise OutputExistsError(
            f"{run_dir}: holds a trained run ({last}); pass --resume to continue it or "
            "--overwrite to start again"
        )
    if info.is_main:
        if overwrite:
            # only the files a run writes: a file of the user's in checkpoints/ survives
            output_folder.refuse_foreign(run_dir, "train", RUN_FILES)
            output_folder.remove_own_files(run_dir, RUN_FILES)
        output_folder.mark(run_dir, "train")
    ddp.barrier(info)
    return None


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
    opt_g = OPTIMIZERS[t.optimizer](method.parameters(), lr=t.lr)
    opt_d = (
        torch.optim.Adam(discs.parameters(), lr=t.lr_disc, betas=(0.5, 0.999)) if discs else None
    )
    return Networks(
        method=method,
        discs=discs,
        generator=ddp.wrap_ddp(GeneratorPass(method), info),
        critic=ddp.wrap_ddp(CriticLoss(discs), info) if discs is not None else None,
        opt_g=opt_g,
        opt_d=opt_d,
    )


def _set_learning_rates(
    nets: Networks, config: Config, step: int, budget_fraction: float = 0.0
) -> dict[str, float]:
    t = config.train
    factor = lr_factor(step, t.lr_warmup_steps, t.steps, t.lr_min_factor, t.cosine, budget_fraction)
    for group in nets.opt_g.param_groups:
        group["lr"] = t.lr * factor
    if nets.opt_d is not None:
        for group in nets.opt_d.param_groups:
            group["lr"] = t.lr_disc * factor
    return {"lr": t.lr * factor, "lr_disc": t.lr_disc * factor}


def _budget_spent(clock: _Clock, t: TrainConfig, info: ddp.DistInfo) -> float:
    """Fraction of ``train.time_budget_minutes`` spent (0 without a budget; >= 1: stop).

    It drives the stop and the cosine learning rate, so every rank must see the same value:
    the mean over ranks (one all-reduce per step under DDP, only when a budget is set).
    """
    if t.time_budget_minutes <= 0:
        return 0.0
    spent = torch.tensor([clock.now() / (60.0 * t.time_budget_minutes)], device=info.device)
    return float(ddp.all_reduce_mean(spent, info).item())


def _progress(bar: tqdm, done: int, spent: float, steps: int) -> None:
    """Advance the bar; under a wall-clock budget its total is the steps the budget will allow
    at the pace so far, so the rate and ETA describe the budget, not ``train.steps``."""
    if spent > 0.0:
        bar.total = max(done, min(steps, round(done / min(spent, 1.0))))
    bar.update(1)


def _stop_if_not_finite(losses: dict[str, float], done: int, run_dir: Path) -> None:
    bad = sorted(k for k, v in losses.items() if not math.isfinite(v))
    if bad:
        raise MMHVAEError(
            f"training stopped at step {done}: non-finite {', '.join(bad)} "
            f"(loss={losses.get('loss')}); the last good checkpoint "
            f"{run_dir / 'checkpoints' / 'last.pt'} is kept. Lower train.lr or train.grad_clip"
        )


def _save(
    path: Path,
    config: Config,
    dataset: TrainingData,
    nets: Networks,
    meter: LossMeter,
    done: int,
    extra: dict[str, Any],
    clock: _Clock,
    info: ddp.DistInfo,
    gather: bool = True,
) -> None:
    """Checkpoint after ``done`` steps; never a state with non-finite weights.

    ``gather`` collects every rank's RNG streams (a collective: all ranks call it); without
    it (rank 0 alone, e.g. for best.pt) only rank 0's streams are stored.
    """
    rngs = ddp.gather_objects(capture_rng(), info) if gather else [capture_rng()]
    if not info.is_main:
        return
    if not all(bool(torch.isfinite(p).all()) for p in nets.method.parameters()):
        raise MMHVAEError(
            f"training stopped at step {done}: non-finite weights; the last good checkpoint "
            f"{path} is kept. Lower train.lr or train.grad_clip"
        )
    state = {
        "format": CHECKPOINT_FORMAT,
        "method": config.method,
        "modalities": list(dataset.modalities),
        "config": config_to_dict(config),
        "step": done,
        "method_state": nets.method.state_dict(),
        "disc_state": nets.discs.state_dict() if nets.discs is not None else {},
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict() if nets.opt_d is not None else {},
        "rng": rngs[0],
        "rng_ranks": rngs,
        "extra": {
            **extra,
            "elapsed": clock.now(),
            "meter": meter.state(),
            "train_cases": dataset.train_cases,
            "val_cases": dataset.val_cases,
        },
    }
    save_checkpoint(path, state)


def _check_compatible(
    state: dict[str, Any], config: Config, modalities: tuple[str, ...], run_dir: Path
) -> None:
    saved = checkpoint_config(state, run_dir)
    for name in ("method", "model"):
        if getattr(saved, name) != getattr(config, name):
            raise CheckpointError(
                f"{run_dir}: cannot resume: config {name!r} differs from the checkpoint's"
            )
    if tuple(state["modalities"]) != modalities:
        raise CheckpointError(
            f"{run_dir}: cannot resume: checkpoint modalities {state['modalities']} but the "
            f"data gives {list(modalities)}"
        )


def _restore(
    state: dict[str, Any], nets: Networks, meter: LossMeter, info: ddp.DistInfo
) -> dict[str, Any]:
    """Load weights, optimisers, the meter and this rank's RNG streams; return ``extra``."""
    nets.method.load_state_dict(state["method_state"])
    nets.opt_g.load_state_dict(state["opt_g"])
    if nets.discs is not None and state["disc_state"]:
        nets.discs.load_state_dict(state["disc_state"])
    if nets.opt_d is not None and state["opt_d"]:
        nets.opt_d.load_state_dict(state["opt_d"])
    extra = dict(state.get("extra", {}))
    meter.load(extra.pop("meter", {"sums": {}, "count": 0}))
    rngs = state.get("rng_ranks", [state["rng"]])
    if len(rngs) == info.world_size:
        restore_rng(rngs[info.rank])
    else:  # another number of ranks: the streams cannot continue, start fresh ones
        _seed_everything(int(state["step"]) * 7_919 + info.rank)
    return extra


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code draws from the global state)
    torch.manual_seed(seed)


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


class _Clock:
    """Seconds of training, carried across resumes."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.start = time.monotonic()

    def now(self) -> float:
        return self.offset + time.monotonic() - self.start
