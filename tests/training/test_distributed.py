"""DDP on CPU (gloo, 2 processes), the global batch split, and per-rank slice sampling."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from mmhvae.config import load_config
from mmhvae.errors import ConfigError
from mmhvae.training.distributed import CaseBalancedSampler, per_rank_batch


def test_global_batch_is_split_evenly_or_refused() -> None:
    assert per_rank_batch(16, 4) == 4
    with pytest.raises(ConfigError, match="divisible"):
        per_rank_batch(6, 4)


def test_sampler_is_case_balanced_resumable_and_differs_per_rank() -> None:
    cases = [list(range(0, 90)), list(range(90, 100))]  # 90 slices vs 10
    draws = [i for _, i in zip(range(4000), CaseBalancedSampler(cases, seed=3), strict=False)]
    small = sum(i >= 90 for i in draws) / len(draws)
    assert 0.45 < small < 0.55  # cases count equally, not slices
    resumed = CaseBalancedSampler(cases, seed=3, start=4090)
    later = [i for _, i in zip(range(20), resumed, strict=False)]
    full = [i for _, i in zip(range(4110), CaseBalancedSampler(cases, seed=3), strict=False)]
    assert later == full[4090:]
    other = [i for _, i in zip(range(50), CaseBalancedSampler(cases, seed=3, rank=1), strict=False)]
    assert other != draws[:50]


def _worker(rank: int, port: int, data: str, run: str, out: str, overrides: list[str]) -> None:
    from mmhvae.training.trainer import fit

    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    result = fit(load_config("tiny", overrides), data, run, device="cpu")
    params = torch.cat([p.detach().flatten() for p in result.method.parameters()])
    torch.save(params, Path(out) / f"rank{rank}.pt")


def test_two_gloo_processes_train_in_sync_and_only_rank_0_writes(
    three_cases: Path, quick: list[str], tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    # batch 2 = 1 slice per rank: a rank whose slice lacks t1/t2 leaves those encoders unused
    overrides = [
        *quick,
        "train.steps=2",
        "train.gan=true",
        "train.disc_start=0",
        "train.gan_start=0",
    ]
    mp.spawn(_worker, args=(port, str(three_cases), str(run), str(out), overrides), nprocs=2)
    rank0, rank1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert torch.equal(rank0, rank1)  # DDP kept the replicas identical
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1
    steps = [line.split(",")[0] for line in (run / "losses.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2"]  # one writer
    assert (run / "checkpoints" / "last.pt").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
