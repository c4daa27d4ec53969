"""Schedules of the training loop: pure functions of the step (0-based optimiser steps).

(The KL weight's warm-up belongs to the objective: ``losses.elbo.kl_weight``.) They hold no
state, so resuming at step s gives exactly the values an uninterrupted run has at
step s: the step counter is the whole schedule state. The one exception is a wall-clock budget
(``train.time_budget_minutes``): the learning rate then also follows the spent fraction of the
budget, which depends on the machine's speed, so such runs are not step-for-step reproducible.
"""

from __future__ import annotations

import math


def onset_reached(step: int, start: int, fraction: float = 0.0, progress: float = 0.0) -> bool:
    """Whether a term that starts at ``start`` steps, or at ``fraction`` of the run when that
    is > 0, is on at ``step``. ``progress`` is the part of the run done: max(step / steps,
    the spent part of a wall-clock budget), so budgeted runs reach fractional onsets too."""
    return progress >= fraction if fraction > 0 else step >= start


def gan_active(
    step: int, enabled: bool, gan_start: int, fraction: float = 0.0, progress: float = 0.0
) -> bool:
    """Whether the generator gets its adversarial term at ``step`` (``train.gan_start`` steps,
    or ``train.gan_start_fraction`` of the run)."""
    return enabled and onset_reached(step, gan_start, fraction, progress)


def disc_active(
    step: int, enabled: bool, disc_start: int, fraction: float = 0.0, progress: float = 0.0
) -> bool:
    """Whether the discriminators learn at ``step`` (``train.disc_start`` steps, or
    ``train.disc_start_fraction`` of the run).

    They usually start before the generator's adversarial term, so that term meets a critic
    that already tells real from synthesised images.
    """
    return enabled and onset_reached(step, disc_start, fraction, progress)


def lr_factor(
    step: int,
    warmup_steps: int,
    total_steps: int,
    min_factor: float,
    cosine: bool = True,
    budget_fraction: float = 0.0,
) -> float:
    """Multiplier of the base learning rate at ``step``.

    Linear warm-up: f(s) = (s + 1) / W for s < W (never 0, so step 0 already learns).
    Then, with ``cosine``, half a cosine from 1 down to ``min_factor`` at the end of training:
      t = max((s - W) / max(1, T - 1 - W), budget_fraction)
      f = m + (1 - m) * (1 + cos(pi * min(t, 1))) / 2;
    without it, f = 1. ``budget_fraction`` is the part of a wall-clock budget already spent
    (0 without one): a run that the budget ends long before step T still anneals fully, so
    methods compared at equal minutes all end at the low learning rate, whatever their speed.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if not cosine:
        return 1.0
    t = (step - max(warmup_steps, 0)) / max(1, total_steps - 1 - max(warmup_steps, 0))
    t = min(1.0, max(t, budget_fraction))
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
