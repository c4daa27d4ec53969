"""Speed as ../shared/BENCHMARKING.md measures it, so our numbers compare with the anchors.

Synthesis: one volume = 160 axial slices in one batch, random inputs in [-1, 1], 1, 3 and 4
input modalities, the full synthesis path at temperature 0.7 under inference mode.
Training step: a batch of 16 slices, every modality observed, 3 components, reconstruction +
KL + GAN generator term, backward, optimiser step, then the discriminator step; GAN on and off.
Timing: warm-up calls, then timed calls (CUDA events on a GPU, a wall clock on the CPU);
median, min, max and the peak CUDA memory after a reset.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mmhvae.config import load_config
from mmhvae.methods import build_method
from mmhvae.training.distributed import DistInfo
from mmhvae.training.step import LossMeter, build_networks, train_step

MODALITIES = ("t1", "t1ce", "t2", "flair")


@dataclass
class Timing:
    name: str
    median_ms: float
    min_ms: float
    max_ms: float
    peak_gib: float | None  # torch.cuda.max_memory_allocated, None on the CPU
    runs: int


@dataclass
class BenchmarkReport:
    device: str
    config: str
    precision: str
    torch_version: str
    threads: int
    timings: list[Timing] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"device: {self.device}; config: {self.config}; precision: {self.precision}; "
            f"torch {self.torch_version}; {self.threads} CPU threads; eager (no compile)",
            "",
            "| what | median ms | min ms | max ms | peak GiB | runs |",
            "|---|---|---|---|---|---|",
        ]
        for t in self.timings:
            peak = f"{t.peak_gib:.2f}" if t.peak_gib is not None else "-"
            lines.append(
                f"| {t.name} | {t.median_ms:.1f} | {t.min_ms:.1f} | {t.max_ms:.1f} | {peak} "
                f"| {t.runs} |"
            )
        return "\n".join(lines)


def time_calls(
    fn: Callable[[], object], device: torch.device, warmup: int, repeats: int, name: str
) -> Timing:
    """Run ``fn`` ``warmup`` times, then time ``repeats`` calls one by one."""
    cuda = device.type == "cuda"
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            clock = time.perf_counter()
            fn()
            times.append((time.perf_counter() - clock) * 1000.0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    return Timing(name, statistics.median(times), min(times), max(times), peak, len(times))


def run_benchmark(
    config_name: str = "default",
    device: str | None = None,
    slices: int = 160,
    batch: int = 16,
    warmup: int = 3,
    repeats: int = 10,
    what: tuple[str, ...] = ("synthesis", "train"),
    bf16: bool = True,
) -> BenchmarkReport:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    use_bf16 = bf16 and cuda
    report = BenchmarkReport(
        device=torch.cuda.get_device_name(dev)
        if cuda
        else f"cpu ({torch.get_num_threads()} threads)",
        config=config_name,
        precision="bf16 autocast" if use_bf16 else "fp32",
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
    )
    config = load_config(config_name, [f"train.amp={str(use_bf16).lower()}"])
    side, m = config.model.image_size, len(MODALITIES)
    generator = torch.Generator(device=dev).manual_seed(0)
    if "synthesis" in what:
        torch.manual_seed(0)
        method = build_method(config, MODALITIES).to(dev).eval()
        if cuda:
            method = method.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        depth = 2 * method.context + 1  # a slice and its neighbours (model.context)
        images = torch.rand(slices, m, depth, side, side, device=dev, generator=generator) * 2 - 1
        mask = torch.ones(slices, 1, side, side, dtype=torch.bool, device=dev)
        for n_inputs in (1, 3, 4):
            present = torch.zeros(slices, m, dtype=torch.bool, device=dev)
            present[:, :n_inputs] = True

            def synthesise(present: torch.Tensor = present) -> object:
                with (
                    torch.inference_mode(),
                    torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16),
                ):
                    return method.synthesize(images, present, mask, config.sampling.temperature, 1)

            name = f"synthesis, {slices} slices, {n_inputs} input(s)"
            report.timings.append(time_calls(synthesise, dev, warmup, repeats, name))
        del method, images
    if "train" in what:
        for gan in (True, False):
            overrides = [
                f"train.batch_size={batch}",
                "train.components=3",
                f"train.gan={str(gan).lower()}",
                "train.gan_start=0",
                "train.disc_start=0",
                f"train.amp={str(use_bf16).lower()}",
            ]
            cfg = load_config(config_name, overrides)
            torch.manual_seed(0)
            nets = build_networks(cfg, MODALITIES, DistInfo(0, 1, 0, dev))
            data = {
                "images": torch.rand(batch, m, 1, side, side, device=dev, generator=generator) * 2
                - 1,
                "present": torch.ones(batch, m, dtype=torch.bool, device=dev),
                "mask": torch.ones(batch, 1, side, side, dtype=torch.bool, device=dev),
            }
            if cfg.model.context:  # what the encoders read: each slice with its neighbours
                depth = 2 * cfg.model.context + 1
                data["inputs"] = data["images"].repeat(1, 1, depth, 1, 1)
            step = functools.partial(
                train_step, nets, data, 10**6, cfg, LossMeter(dev), DistInfo(0, 1, 0, dev)
            )
            name = f"train step, batch {batch}, K=3, GAN {'on' if gan else 'off'}"
            report.timings.append(time_calls(step, dev, warmup, repeats, name))
            del nets
    return report
