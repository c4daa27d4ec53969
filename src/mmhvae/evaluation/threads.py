"""A thread pool for the scoring of one case's scenarios.

Why threads: putting a synthesis back on the case's grid and scoring it (torch's bilinear
resize, NumPy's masked arithmetic, SciPy's Gaussian filters of SSIM) is a chain of large
array operations that release the GIL, and the evaluator has up to 28 such volumes per case
and model. On 2 CPU cores they ran one at a time after the synthesis, with one core idle.

Each worker runs torch at one intra-op thread (``torch.set_num_threads`` is per thread under
OpenMP: the caller's setting is untouched), and there are as many workers as the caller's
torch threads (at most :data:`MAX_WORKERS`: each holds a few float64 copies of a volume), so
``OMP_NUM_THREADS=1`` keeps the evaluation on one core, as every other part of the tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager

import torch

MAX_WORKERS = 4


def scoring_workers() -> int:
    """How many threads score at once: the caller's torch thread count, 1 to MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, torch.get_num_threads()))


def _one_torch_thread() -> None:
    torch.set_num_threads(1)


@contextmanager
def scoring_pool(workers: int | None = None) -> Iterator[Executor]:
    """A pool whose ``map`` keeps the order of its inputs (results as they are consumed);
    ``workers`` defaults to :func:`scoring_workers`. When the caller's block raises (a bad
    volume, Ctrl-C), the jobs not yet started are cancelled; the running ones are awaited."""
    count = scoring_workers() if workers is None else workers
    pool = ThreadPoolExecutor(count, "mmhvae-score", initializer=_one_torch_thread)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
