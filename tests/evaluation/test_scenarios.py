from __future__ import annotations

from math import comb

import pytest

from mmhvae.errors import ConfigError
from mmhvae.evaluation.scenarios import Scenario, ScenarioMode, input_subsets, scenarios

FOUR = ("t1", "t1ce", "t2", "flair")


def test_four_modalities_give_14_subsets_and_28_pairs() -> None:
    subsets = input_subsets(FOUR)
    assert len(subsets) == 14 == len(set(subsets))
    assert all(0 < len(s) < 4 for s in subsets)
    pairs = scenarios(FOUR)
    assert len(pairs) == 28 == len(set(pairs))
    assert {p.inputs for p in pairs} == set(subsets)
    assert all(p.target in FOUR and p.target not in p.inputs for p in pairs)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_counts_follow_the_closed_form(n: int) -> None:
    names = [f"m{i}" for i in range(n)]
    assert len(input_subsets(names)) == max(2**n - 2, 0)
    assert len(scenarios(names)) == sum(comb(n, k) * (n - k) for k in range(1, n))
    assert len(scenarios(names, "single-input")) == n * (n - 1)
    assert len(scenarios(names, "single-missing")) == (n if n > 1 else 0)


def test_single_missing_and_single_input() -> None:
    missing = scenarios(FOUR, ScenarioMode.SINGLE_MISSING)
    # combinations drop the last modality first, so the targets come in reverse order
    assert missing == [Scenario(tuple(m for m in FOUR if m != t), t) for t in reversed(FOUR)]
    single = scenarios(FOUR, "single-input")
    assert len(single) == 12
    assert single[0] == Scenario(("t1",), "t1ce")
    assert single[0].label == "t1->t1ce"


def test_order_is_deterministic_by_size_then_position() -> None:
    pairs = scenarios(FOUR)
    sizes = [len(p.inputs) for p in pairs]
    assert sizes == sorted(sizes)
    assert pairs[:3] == [Scenario(("t1",), t) for t in ("t1ce", "t2", "flair")]
    assert scenarios(list(reversed(FOUR)))[0] == Scenario(("flair",), "t2")


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="single-input"):
        scenarios(FOUR, "leave-one-out")
    with pytest.raises(ValueError, match="twice"):
        scenarios(["t1", "t1"])
    with pytest.raises(TypeError):
        scenarios("t1")
