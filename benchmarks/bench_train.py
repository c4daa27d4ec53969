"""Median time of one training step of a config (default: tiny) on random slices.

    .venv/bin/python benchmarks/bench_train.py [--config tiny] [--steps 5] [--device cpu] \
        [--missing 0.2] [--set train.components=1 ...]

A step = generator half (K components, recon + KL, + the adversarial term) + discriminator
half, exactly the trainer's ``train_step``. The GAN as the config says (`tiny` trains without
it since 2026-12-03: ``--set train.gan=true`` times it with), from the first step when on.
Inputs are random values in [-1, 1], all modalities present (BENCHMARKING.md) unless
``--missing p`` drops each modality of a slice with probability p (one always stays), as real
incomplete data does: the CPU step then skips the absent rows' encoders. Warm-up steps are
not timed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mmhvae.config import load_config
from mmhvae.training.distributed import DistInfo
from mmhvae.training.step import LossMeter, build_networks, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--missing", type=float, default=0.0, help="per-modality drop rate")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.config, ["train.gan_start=0", "train.disc_start=0", *args.set])
    modalities = ("t1", "t1ce", "t2", "flair")
    info = DistInfo(0, 1, 0, torch.device(args.device))
    torch.manual_seed(0)
    nets = build_networks(config, modalities, info)
    b, side = config.train.batch_size, config.model.image_size
    batch = {
        "images": torch.rand(b, len(modalities), 1, side, side) * 2 - 1,  # (B, M, C, H, W)
        "present": _present(b, len(modalities), args.missing),
        "mask": torch.ones(b, 1, side, side, dtype=torch.bool),
    }
    if config.model.context:  # what the encoders read: each slice with its neighbours
        batch["inputs"] = batch["images"].repeat(1, 1, 2 * config.model.context + 1, 1, 1)
    meter = LossMeter(info.device)
    times = []
    for i in range(args.warmup + args.steps):
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_step(nets, batch, 10**6, config, meter, info, flush=True)  # flush: a sync
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    print(
        f"{args.config}: batch {b} x {side}x{side}, {len(modalities)} modalities, "
        f"K={config.train.components}, GAN {'on' if config.train.gan else 'off'}, "
        f"{args.missing:.0%} missing, "
        f"{torch.get_num_threads()} threads, "
        f"{args.device}: median {statistics.median(times) * 1000:.0f} ms/step "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)}; "
        f"{1 / statistics.median(times):.2f} steps/s)"
    )


def _present(b: int, m: int, missing: float) -> torch.Tensor:
    """(B, M) bool: each modality absent with probability ``missing``, one kept per row."""
    g = torch.Generator().manual_seed(1)
    present = torch.rand(b, m, generator=g) >= missing
    keep = torch.randint(m, (b,), generator=g)
    present[torch.arange(b), keep] = True
    return present


if __name__ == "__main__":
    main()
