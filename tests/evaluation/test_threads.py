"""The scoring pool: order kept, one torch thread per worker, the caller's threads untouched."""

from __future__ import annotations

import threading

import torch

from mmhvae.evaluation.threads import MAX_WORKERS, scoring_pool, scoring_workers


def test_workers_follow_the_callers_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert scoring_workers() == 1
        torch.set_num_threads(MAX_WORKERS + 3)
        assert scoring_workers() == MAX_WORKERS
    finally:
        torch.set_num_threads(before)


def test_map_keeps_order_and_each_worker_runs_torch_on_one_thread() -> None:
    before = torch.get_num_threads()
    seen: set[str] = set()

    def job(i: int) -> tuple[int, int]:
        seen.add(threading.current_thread().name)
        return i, torch.get_num_threads()

    with scoring_pool(3) as pool:
        out = list(pool.map(job, range(20)))
    assert [i for i, _ in out] == list(range(20))
    assert {n for _, n in out} == {1}
    assert all(name.startswith("mmhvae-score") for name in seen)
    assert torch.get_num_threads() == before


def test_an_error_cancels_the_jobs_not_started() -> None:
    started: list[int] = []
    gate = threading.Event()

    def job(i: int) -> int:
        started.append(i)
        gate.wait(5)  # the first job holds the only worker until the block has raised
        return i

    release = threading.Timer(0.2, gate.set)
    try:
        with scoring_pool(1) as pool:
            futures = [pool.submit(job, i) for i in range(10)]
            release.start()
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert all(f.done() for f in futures)
    assert [f.cancelled() for f in futures] == [False] + [True] * 9
    assert started == [0]
