"""Distributed data parallel (DDP) from torchrun's environment, and per-rank slice sampling.

``torchrun --nproc-per-node=N -m mmhvae train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK;
this module reads them, joins the process group (NCCL on CUDA, gloo on CPU) and wraps
modules in DDP. Without those variables everything runs as one process.

The global batch (``config.train.batch_size``) is split evenly across ranks; the learning
rate is NOT rescaled with the number of ranks: N ranks with batch B/N each see the same
global batch of B as one process with B, so the same lr applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from mmhvae.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place: rank among world_size processes, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main rank writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | None = None) -> DistInfo:
    """Join the process group when torchrun's variables say so; pick the device.

    ``device`` None means CUDA when available, else CPU. Under DDP each rank uses
    ``cuda:LOCAL_RANK`` (NCCL) or the CPU (gloo).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {kind}: CUDA is not available on this machine")
    if world_size > 1:
        if kind.startswith("cuda"):
            torch.cuda.set_device(local_rank)
            target = torch.device("cuda", local_rank)
        else:
            target = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
        return DistInfo(rank, world_size, local_rank, target)
    return DistInfo(0, 1, 0, torch.device(kind))


def cleanup_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch(global_batch: int, world_size: int) -> int:
    """The batch each rank trains on: global / world_size, which must divide evenly."""
    if global_batch % world_size:
        raise ConfigError(
            f"train.batch_size={global_batch} is the global batch: it must be divisible by "
            f"the number of processes ({world_size})"
        )
    return global_batch // world_size


def wrap_ddp(module: nn.Module, info: DistInfo) -> nn.Module:
    """DDP around ``module`` under torchrun, the module itself otherwise.

    find_unused_parameters: a rank whose batch lacks a modality gives that modality's
    encoder no gradient; DDP must then not wait for it (the other ranks' gradients are
    still averaged in).
    """
    if not info.enabled:
        return module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=True
    )


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``values`` over ranks (a copy); the values themselves on one process."""
    if not info.enabled:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


class CaseBalancedSampler(Sampler[int]):
    """Endless dataset indices: a case uniformly at random, then one of its slices uniformly.

    Cases count equally whatever their number of slices, so every batch mixes cases with
    different missing patterns. Draw number i of rank r is a pure function of (seed, r, i):
    the stream is cut in chunks, each from a generator seeded by (seed, rank, chunk). Resuming
    at ``start`` (the draws already consumed) continues the stream exactly, whatever the
    DataLoader prefetched; ranks get different seeds, hence different slices.
    """

    chunk = 4096

    def __init__(
        self, case_indices: Sequence[Sequence[int]], seed: int, rank: int = 0, start: int = 0
    ) -> None:
        self.case_indices = [list(indices) for indices in case_indices if len(indices)]
        if not self.case_indices:
            raise ValueError("no training slices to sample from")
        self.seed = seed
        self.rank = rank
        self.start = start

    def _chunk(self, number: int) -> list[int]:
        generator = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + self.rank * 7_919 + number) % (2**63)
        )
        n_cases = len(self.case_indices)
        cases = torch.randint(n_cases, (self.chunk,), generator=generator).tolist()
        where = torch.rand(self.chunk, generator=generator, dtype=torch.float64).tolist()
        return [
            self.case_indices[c][
                min(int(u * len(self.case_indices[c])), len(self.case_indices[c]) - 1)
            ]
            for c, u in zip(cases, where, strict=True)
        ]

    def __iter__(self) -> Iterator[int]:
        number, offset = divmod(self.start, self.chunk)
        while True:
            yield from self._chunk(number)[offset:]
            number, offset = number + 1, 0


def gather_objects(value: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``value`` in rank order (a collective: all ranks must call it)."""
    if not info.enabled:
        return [value]
    values: list[Any] = [None] * info.world_size
    dist.all_gather_object(values, value)
    return values
