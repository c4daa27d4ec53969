"""Schedules against their closed forms."""

from __future__ import annotations

import math

import pytest

from mmhvae.training.schedules import disc_active, gan_active, lr_factor


def test_gan_and_disc_switch_on_at_their_start_step() -> None:
    assert [gan_active(s, True, 3) for s in range(5)] == [False, False, False, True, True]
    assert [disc_active(s, True, 1) for s in range(3)] == [False, True, True]
    assert not gan_active(10**6, False, 0)
    assert not disc_active(10**6, False, 0)


def test_lr_warmup_is_linear_and_never_zero() -> None:
    factors = [lr_factor(s, 4, 100, 0.1) for s in range(4)]
    assert factors == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_lr_cosine_goes_from_one_to_min_factor() -> None:
    warmup, total, floor = 10, 111, 0.05
    assert lr_factor(warmup, warmup, total, floor) == pytest.approx(1.0)
    assert lr_factor(total - 1, warmup, total, floor) == pytest.approx(floor)
    middle = warmup + (total - 1 - warmup) // 2
    assert lr_factor(middle, warmup, total, floor) == pytest.approx(floor + (1 - floor) / 2)
    quarter = warmup + (total - 1 - warmup) // 4
    expected = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi / 4))
    assert lr_factor(quarter, warmup, total, floor) == pytest.approx(expected)
    # past the end (a resumed run with fewer steps) it stays at the floor
    assert lr_factor(total + 50, warmup, total, floor) == pytest.approx(floor)


def test_lr_cosine_is_monotone_after_warmup() -> None:
    factors = [lr_factor(s, 5, 60, 0.0) for s in range(5, 60)]
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))


def test_lr_without_cosine_is_constant_after_warmup() -> None:
    assert {lr_factor(s, 2, 10, 0.1, cosine=False) for s in range(2, 20)} == {1.0}


def test_lr_follows_the_spent_wall_clock_budget_when_it_is_ahead_of_the_steps() -> None:
    warmup, total, floor = 10, 1_000_000, 0.1  # a budgeted run: train.steps is never reached
    half = floor + (1 - floor) / 2
    assert lr_factor(50, warmup, total, floor, budget_fraction=0.5) == pytest.approx(half)
    assert lr_factor(50, warmup, total, floor, budget_fraction=1.0) == pytest.approx(floor)
    assert lr_factor(50, warmup, total, floor, budget_fraction=3.0) == pytest.approx(floor)
    # warm-up is in steps whatever the budget says; the step fraction wins when it is ahead
    assert lr_factor(3, warmup, total, floor, budget_fraction=0.9) == pytest.approx(0.4)
    assert lr_factor(total - 1, warmup, total, floor, budget_fraction=0.1) == pytest.approx(floor)
    # no budget (fraction 0) is the step schedule exactly
    assert lr_factor(500, warmup, 1000, floor, budget_fraction=0.0) == lr_factor(
        500, warmup, 1000, floor
    )


def test_fractional_onsets_follow_the_progress_of_the_run() -> None:
    from mmhvae.training.schedules import onset_reached

    assert not gan_active(900, True, 600, fraction=0.5, progress=0.4)  # fraction wins
    assert gan_active(10, True, 600, fraction=0.5, progress=0.5)  # e.g. half the budget
    assert disc_active(5, True, 10**6, fraction=0.25, progress=0.3)
    assert not disc_active(5, False, 0, fraction=0.25, progress=1.0)
    assert onset_reached(600, 600) and not onset_reached(599, 600)  # steps without fraction
