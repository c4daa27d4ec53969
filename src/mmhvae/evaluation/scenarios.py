"""Evaluation scenarios (EVALUATION.md, "Cases and scenarios").

A scenario is (inputs S, target t): S a non-empty subset of a case's available modalities and
t an available modality not in S. With n available modalities there are 2**n - 2 input
subsets (every non-empty proper subset) and sum_k C(n, k) (n - k) pairs: 14 and 28 for n = 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from itertools import combinations
from typing import NamedTuple

from mmhvae.errors import ConfigError


class ScenarioMode(str, Enum):
    """Which scenarios to evaluate: every pair, only |S| = n - 1, or only |S| = 1."""

    ALL = "all"
    SINGLE_MISSING = "single-missing"
    SINGLE_INPUT = "single-input"


class Scenario(NamedTuple):
    """Synthesise ``target`` from ``inputs`` (a tuple in the order of the available list)."""

    inputs: tuple[str, ...]
    target: str

    @property
    def label(self) -> str:
        """Short printable name, e.g. ``t1+t2->flair``."""
        return f"{'+'.join(self.inputs)}->{self.target}"


def input_subsets(available: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty proper subset of ``available`` (a target must remain): 2**n - 2 of them.

    Ordered by size, then lexicographically by position in ``available``.
    """
    names = _unique(available)
    return [s for k in range(1, len(names)) for s in combinations(names, k)]


def scenarios(
    available: Sequence[str], mode: ScenarioMode | str = ScenarioMode.ALL
) -> list[Scenario]:
    """The (S, t) pairs of ``mode`` over ``available``, in a fixed order.

    Order: by |S|, then S as in :func:`input_subsets`, then t in the order of ``available``.
    all: sum_k C(n, k)(n - k) pairs; single-missing (|S| = n - 1): n pairs;
    single-input (|S| = 1): n (n - 1) pairs. Fewer than two modalities give no scenario.
    """
    try:
        mode = ScenarioMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in ScenarioMode)
        raise ConfigError(f"scenario mode {mode!r}: expected one of {known}") from None
    names = _unique(available)
    pairs = [
        Scenario(subset, target)
        for subset in input_subsets(names)
        for target in names
        if target not in subset
    ]
    if mode is ScenarioMode.SINGLE_MISSING:
        return [p for p in pairs if len(p.inputs) == len(names) - 1]
    if mode is ScenarioMode.SINGLE_INPUT:
        return [p for p in pairs if len(p.inputs) == 1]
    return pairs


def _unique(available: Sequence[str]) -> tuple[str, ...]:
    if isinstance(available, str):
        raise TypeError("available must be a sequence of modality names, not one string")
    names = tuple(available)
    if len(set(names)) != len(names):
        raise ValueError(f"modalities listed twice in {names}")
    return names
