import torch

from mmhvae.methods.subsets import all_subsets, sample_subsets, subset_mask


def test_all_subsets_lists_every_nonempty_subset_once() -> None:
    subsets = all_subsets(4)
    assert len(subsets) == 15 and len(set(subsets)) == 15
    assert subsets[0] == (0,) and subsets[-1] == (0, 1, 2, 3)
    assert all(len(s) >= 1 and list(s) == sorted(s) for s in subsets)
    assert subset_mask((0, 2), 4).tolist() == [True, False, True, False]


def _check(present: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    out = sample_subsets(present, k, torch.Generator().manual_seed(seed))
    assert out.shape == (present.shape[0], k, present.shape[1]) and out.dtype == torch.bool
    assert out.any(dim=2).all(), "every component is non-empty"
    assert not (out & ~present[:, None]).any(), "components are subsets of the observed set"
    assert torch.equal(out[:, 0], present), "component 0 is the observed set"
    if k >= 2:
        assert (out[:, 1].sum(dim=1) == 1).all(), "component 1 is one modality"
    return out


def test_random_components_reach_every_subset_of_four() -> None:
    present = torch.ones(4000, 4, dtype=torch.bool)
    out = _check(present, 3, 0)
    seen = {tuple(torch.nonzero(row).flatten().tolist()) for row in out[:, 2]}
    assert seen == set(all_subsets(4))
    counts = torch.unique(out[:, 2], dim=0, return_counts=True)[1].float()
    assert counts.min() > 0.7 * counts.mean(), "roughly uniform over the 15 subsets"
    singles = out[:, 1].float().mean(dim=0)
    assert (singles - 0.25).abs().max() < 0.04


def test_mixed_missing_patterns_in_one_batch() -> None:
    modalities = ("t1", "t2", "flair", "us")
    us_t2 = torch.tensor([False, True, False, True])
    present = torch.stack([us_t2] * 500 + [torch.tensor([True, False, False, False])] * 10)
    out = _check(present, 5, 1)
    seen = {tuple(torch.nonzero(row).flatten().tolist()) for row in out[:500, 2:].reshape(-1, 4)}
    assert seen == {(1,), (3,), (1, 3)}, [modalities[i] for s in seen for i in s]
    assert torch.equal(out[500:], present[500:, None].expand(10, 5, 4))


def test_one_and_two_components() -> None:
    present = torch.tensor([[True, False, True], [False, True, False]])
    assert torch.equal(_check(present, 1, 2)[:, 0], present)
    _check(present, 2, 3)


def test_zero_components_are_refused_with_the_count() -> None:
    import pytest

    with pytest.raises(ValueError, match="must be at least 1, got 0"):
        sample_subsets(torch.ones(2, 3, dtype=torch.bool), 0)


def test_a_seeded_draw_of_subsets_ignores_the_global_rng() -> None:
    # every random number (the single modality and the uniform subsets, K >= 3) comes from
    # the caller's generator: the global RNG in between must change nothing
    present = torch.rand(64, 4) < 0.7
    present[:, 0] = True
    torch.manual_seed(1)
    first = sample_subsets(present, 5, torch.Generator().manual_seed(3))
    torch.manual_seed(2)
    second = sample_subsets(present, 5, torch.Generator().manual_seed(3))
    assert torch.equal(first, second)
    assert not torch.equal(first, sample_subsets(present, 5, torch.Generator().manual_seed(4)))
