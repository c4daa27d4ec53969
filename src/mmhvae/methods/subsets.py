"""Which input subsets S of the observed set O each example's K mixture components use.

Shapes: B batch, K components, M modalities. All tensor operations on the device: no loop
over examples and no host synchronisation.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor


def sample_subsets(present: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Sample K non-empty subsets of each example's observed modalities.

    present: (B, M) bool, at least one True per row. Returns (B, K, M) bool with
      component 0 = the whole observed set O,
      component 1 = one observed modality, uniform over O,
      components 2..K-1 = a subset uniform over the 2^n - 1 non-empty subsets of O (n = |O|):
        r ~ U{1, ..., 2^n - 1}; the observed modality of rank j (0-based, in modality
        order) is in S iff bit j of r is set.
    """
    if k < 1:
        raise ValueError(f"the number of components must be at least 1, got {k}")
    present = present.bool()
    b, m = present.shape
    device = present.device
    parts = [present]
    if k >= 2:
        score = torch.rand((b, m), generator=generator, device=device)
        score = torch.where(present, score, torch.full_like(score, -1.0))
        one = torch.nn.functional.one_hot(score.argmax(dim=1), m).bool()  # (B, M)
        parts.append(one)
    if k >= 3:
        n = present.sum(dim=1, keepdim=True).to(torch.float64)  # (B, 1)
        count = torch.exp2(n) - 1.0  # non-empty subsets of O
        u = torch.rand((b, k - 2), generator=generator, device=device, dtype=torch.float64)
        r = (1.0 + torch.floor(u * count)).clamp(max=count).to(torch.int64)  # (B, K-2)
        rank = (present.cumsum(dim=1) - 1).clamp(min=0)  # (B, M) rank of each observed one
        bits = torch.bitwise_right_shift(r[:, :, None], rank[:, None, :]) & 1  # (B, K-2, M)
        parts.extend((bits.bool() & present[:, None, :]).unbind(dim=1))
    return torch.stack(parts, dim=1)  # (B, K, M)


def random_singles(present: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """K single observed modalities per example, each uniform over O, independently.

    present (B, M) bool with a True per row -> (B, K, M) bool, one True per (b, k), inside O.
    """
    b, m = present.shape
    score = torch.rand((b, k, m), generator=generator, device=present.device)
    score = torch.where(present.bool()[:, None, :], score, torch.full_like(score, -1.0))
    return torch.nn.functional.one_hot(score.argmax(dim=2), m).bool()  # (B, K, M)


def random_subsets(present: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """K subsets per example, each uniform over the 2^|O| - 1 non-empty subsets of O.

    present (B, M) bool -> (B, K, M) bool: the uniform components of :func:`sample_subsets`.
    """
    return sample_subsets(present, k + 2, generator)[:, 2:]


def full_and_singles(present: Tensor, k: int) -> Tensor:
    """present (B, M) -> (B, K, M): component 0 = O, components 1..K-1 = random singles of O."""
    parts = [present.bool()[:, None, :]]
    if k > 1:
        parts.append(random_singles(present, k - 1))
    return torch.cat(parts, dim=1)


def all_subsets(m: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of modality indices 0..m-1, by size then lexicographically.

    ``all_subsets(3)`` = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)].
    """
    return [c for size in range(1, m + 1) for c in combinations(range(m), size)]


def subset_mask(subset: tuple[int, ...], m: int, device: torch.device | None = None) -> Tensor:
    """(M,) bool with True at the indices of ``subset``."""
    mask = torch.zeros(m, dtype=torch.bool, device=device)
    mask[list(subset)] = True
    return mask
