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

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from mmhvae import output_folder
from mmhvae.config import Config, TrainConfig, config_to_dict, require_slices
from mmhvae.data.dataset import collate_slices
from mmhvae.errors import CheckpointError, MMHVAEError, OutputExistsError
from mmhvae.methods.base import Method
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import (
    CHECKPOINT_FORMAT,
    RunFolder,
    capture_rng,
    checkpoint_config,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from mmhvae.training import distributed as ddp
from mmhvae.training.data import TrainingData, batch_stream, build_training_data, stack_rows
from mmhvae.training.images import grid_rows, sample_grid
from mmhvae.training.init import initialise_from, starting_point, with_start_modalities
from mmhvae.training.logs import RunLog
from mmhvae.training.schedules import lr_factor
from mmhvae.training.step import LossMeter, Networks, build_networks, train_step
from mmhvae.training.validation import validate

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
    require_slices(config)
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
    run = RunFolder(run_dir)
    # fine-tuning (training/init.py): checked before anything is written
    start_from = None if resume else starting_point(config)
    if start_from is not None:
        config = with_start_modalities(config, start_from[2])
    state = _prepare_run_dir(config, run, resume, overwrite, info)
    if state:  # a fine-tuning run may train slots its data lacks: resume them all
        config = with_start_modalities(config, tuple(str(m) for m in state["modalities"]))
    start = int(state["step"]) if state else 0
    cache = Path(config.data.cache_dir) if config.data.cache_dir else run_dir / "cache"
    _seed_everything(t.seed)  # identical initial weights on every rank
    dataset = build_training_data(config, data, cache, progress=info.is_main)
    nets = build_networks(config, dataset.modalities, info)
    nets.method.intensity_landmarks = dataset.intensity_landmarks  # as load_method gives them
    meter = LossMeter(info.device)
    extra: dict[str, Any] = {"best_val": math.inf, "elapsed": 0.0}
    if state:
        _check_compatible(state, config, dataset.modalities, run_dir)
        extra = _restore(state, nets, meter, info)
    else:
        if start_from is not None:
            initialise_from(nets.method, start_from, config, dataset.modalities)
        _seed_everything(t.seed + 1 + info.rank)  # different subsets and noise per rank
    val_batch = stack_rows(dataset.val, dataset.val_rows, info.device)
    log = RunLog(run, resume_step=start if state else None, enabled=info.is_main)
    if info.is_main:
        run.write_config(config)
        run.write_record(data, dataset.modalities)
    clock = _Clock(float(extra["elapsed"]))
    # Validation and images sample as the run will be used: one draw at its temperature.
    sampling = SamplingOptions.from_config(config.sampling, samples=1, batch_size=VAL_BATCH)
    if not nets.method.trainable:
        return _fit_closed_form(
            run, config, dataset, nets, meter, log, extra, clock, val_batch, sampling, info
        )
    if not state and nets.method.prefits:  # resumed runs restore the fitted parts
        nets.method.prefit(_every_training_slice(dataset, info, "fit the floor"))
    batches = batch_stream(dataset, config, info, batch_size, start)
    first_val: dict[str, float] = {}
    if not state and info.is_main:
        first_val = validate(nets.method, val_batch, sampling)
        log.validation(0, clock.now(), first_val)
    last_val, losses = dict(first_val), {}
    final = max(start, t.steps)
    bar = tqdm(total=t.steps, initial=start, unit="step", disable=not info.is_main, desc="train")
    spent = _budget_spent(clock, t, info)
    for step in range(start, t.steps):
        done = step + 1
        logging_due = done % t.log_every == 0 or done == t.steps
        lrs = _set_learning_rates(nets, config, step, spent)
        progress = max(step / max(t.steps, 1), spent)
        logged = train_step(nets, next(batches), step, config, meter, info, logging_due, progress)
        spent = _budget_spent(clock, t, info)
        last = done == t.steps or spent >= 1.0
        _progress(bar, done, spent, t.steps)
        if logged is not None:
            losses = logged | lrs | {"kl_weight": nets.method.objective.kl_weight(step)}
            _stop_if_not_finite(losses, done, run_dir)
            log.losses(done, clock.now(), losses)
            bar.set_postfix({k: f"{losses[k]:.4g}" for k in ("loss", "recon", "kl") if k in losses})
        if info.is_main and (done % t.val_every == 0 or last):
            last_val = validate(nets.method, val_batch, sampling)
            log.validation(done, clock.now(), last_val)
            if last_val["loss"] < extra["best_val"]:
                extra["best_val"] = last_val["loss"]
                _save(
                    run.best, config, dataset, nets, meter, done, extra, clock, info, gather=False
                )
        if info.is_main and (done % t.image_every == 0 or last):
            rows, names = grid_rows(val_batch, IMAGE_SLICES)  # the most brain: mid-brain
            log.image(done, sample_grid(nets.method, rows, names, sampling))
        if done % t.checkpoint_every == 0 or last:
            _save(run.last, config, dataset, nets, meter, done, extra, clock, info)
        if last:
            final = done
            break
    bar.close()
    log.close()
    return TrainResult(
        run_dir=run_dir,
        steps=final,
        checkpoint=run.last,
        best_checkpoint=run.best if run.best.is_file() else None,
        first_validation=first_val,
        validation=last_val,
        losses=losses,
        method=nets.method,
    )


def _every_training_slice(
    dataset: TrainingData, info: ddp.DistInfo, desc: str
) -> Iterator[dict[str, Tensor]]:
    """Every training slice once, in order (augmented as configured), in batches on the
    device, with a progress bar: what closed-form fits read."""
    loader = DataLoader(dataset.train, batch_size=VAL_BATCH, collate_fn=collate_slices)
    batches = tqdm(loader, total=len(loader), desc=desc, unit="batch", disable=not info.is_main)
    for batch in batches:
        yield {k: batch[k].to(info.device) for k in ("images", "present", "mask")}


def _fit_closed_form(
    run: RunFolder,
    config: Config,
    dataset: TrainingData,
    nets: Networks,
    meter: LossMeter,
    log: RunLog,
    extra: dict[str, Any],
    clock: _Clock,
    val_batch: dict[str, Any],
    sampling: SamplingOptions,
    info: ddp.DistInfo,
) -> TrainResult:
    """A method without optimiser steps: one pass over every training slice (in order, as
    augmentation configures them), validation, and the checkpoints of step 0."""
    nets.method.fit_closed_form(_every_training_slice(dataset, info, "fit"))
    val: dict[str, float] = {}
    if info.is_main:
        val = validate(nets.method, val_batch, sampling)
        log.validation(0, clock.now(), val)
        extra["best_val"] = val["loss"]
        _save(run.best, config, dataset, nets, meter, 0, extra, clock, info, gather=False)
    _save(run.last, config, dataset, nets, meter, 0, extra, clock, info)
    log.close()
    return TrainResult(
        run_dir=run.path,
        steps=0,
        checkpoint=run.last,
        best_checkpoint=run.best if run.best.is_file() else None,
        first_validation=val,
        validation=val,
        losses={},
        method=nets.method,
    )


def _prepare_run_dir(
    config: Config, run: RunFolder, resume: bool, overwrite: bool, info: ddp.DistInfo
) -> dict[str, Any] | None:
    """Refuse to clobber a run; clear it for ``overwrite``; load its checkpoint for ``resume``."""
    run_dir, last = run.path, run.last
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
            output_folder.refuse_foreign(run_dir, "train", RunFolder.outputs)
            output_folder.remove_own_files(run_dir, RunFolder.outputs)
        output_folder.mark(run_dir, "train")
    ddp.barrier(info)
    return None


def _set_learning_rates(
    nets: Networks, config: Config, step: int, budget_fraction: float = 0.0
) -> dict[str, float]:
    t = config.train
    factor = lr_factor(step, t.lr_warmup_steps, t.steps, t.lr_min_factor, t.cosine, budget_fraction)
    for group in nets.opt_g.param_groups if nets.opt_g is not None else []:
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
            f"{RunFolder(run_dir).last} is kept. Lower train.lr or train.grad_clip"
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
        "opt_g": nets.opt_g.state_dict() if nets.opt_g is not None else {},
        "opt_d": nets.opt_d.state_dict() if nets.opt_d is not None else {},
        "rng": rngs[0],
        "rng_ranks": rngs,
        "extra": {
            **extra,
            "elapsed": clock.now(),
            "meter": meter.state(),
            "real_pool": nets.pool.state(),
            "train_cases": dataset.train_cases,
            "val_cases": dataset.val_cases,
            "intensity_landmarks": dataset.intensity_landmarks,
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
    if nets.opt_g is not None and state["opt_g"]:
        nets.opt_g.load_state_dict(state["opt_g"])
    if nets.discs is not None and state["disc_state"]:
        nets.discs.load_state_dict(state["disc_state"])
    if nets.opt_d is not None and state["opt_d"]:
        nets.opt_d.load_state_dict(state["opt_d"])
    extra = dict(state.get("extra", {}))
    meter.load(extra.pop("meter", {"sums": {}, "count": 0}))
    nets.pool.load(extra.pop("real_pool", {}), info.device)
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


class _Clock:
    """Seconds of training, carried across resumes."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.start = time.monotonic()

    def now(self) -> float:
        return self.offset + time.monotonic() - self.start
