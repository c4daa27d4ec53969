"""One case in, its missing modalities out, on the case's original grid.

Output intensities are the normalised space of EVALUATION.md: the model's [-1, 1] mapped to
[0, 1] by y = (x + 1) / 2, and 0 outside the brain mask. The uncertainty (std over samples)
is in the same units. Volumes come back in the original voxel order and shape, ready to be
saved with the reference volume's affine and header.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mmhvae.config import Config
from mmhvae.data.case import Case, load_case
from mmhvae.data.layouts import CaseFiles
from mmhvae.data.modalities import canonical_modality
from mmhvae.data.preprocess import (
    GridInfo,
    Prepared,
    brain_mask,
    prepare_case,
    to_original_grid,
)
from mmhvae.data.standardise import standardise_inputs
from mmhvae.errors import DataError
from mmhvae.methods.base import Method
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.synthesis.slices import brain_slices, synthesize_slices

VolumePair = tuple[np.ndarray, "np.ndarray | None"]


@dataclass(frozen=True)
class SynthesisPlan:
    """Which modalities go in and which come out for one case."""

    inputs: tuple[str, ...]
    targets: tuple[str, ...]


def known_modalities(
    names: Sequence[str], modalities: Sequence[str], option: str
) -> tuple[str, ...]:
    """Canonical ``names``, each one of the model's ``modalities`` (DataError naming ``option``)."""
    result = []
    for name in names:
        canonical = canonical_modality(name)
        if canonical not in modalities:
            raise DataError(
                f"{option} {name!r}: the model does not know this modality "
                f"(it was trained for {', '.join(modalities)})"
            )
        result.append(canonical)
    return tuple(dict.fromkeys(result))


def plan_synthesis(
    case_id: str,
    modalities: Sequence[str],
    present: Sequence[str],
    targets: Sequence[str] | None = None,
    leave_out: Sequence[str] = (),
) -> SynthesisPlan:
    """Inputs = present modalities the model knows, minus ``leave_out``; targets = the asked
    ones (default: every modality of the model that is absent or left out).

    A requested target the case has (and that is not left out) is not synthesised: it would
    be its own input. Raises DataError when no input remains.
    """
    left_out = set(known_modalities(leave_out, modalities, "--leave-out"))
    inputs = tuple(m for m in modalities if m in set(present) and m not in left_out)
    if not inputs:
        have = ", ".join(sorted(present)) or "none"
        raise DataError(
            f"case {case_id}: none of the model's modalities ({', '.join(modalities)}) is "
            f"present to synthesise from (the case has: {have}"
            + (f"; left out: {', '.join(sorted(left_out))})" if left_out else ")")
        )
    wanted = known_modalities(targets, modalities, "--targets") if targets else tuple(modalities)
    return SynthesisPlan(inputs=inputs, targets=tuple(m for m in wanted if m not in inputs))


def model_inputs(
    method: Method, case: Case, prepared: Prepared, inputs: Sequence[str]
) -> tuple[Prepared, list[str]]:
    """The prepared case as the method reads it: each of ``inputs`` stored in 8 bits mapped to
    the intensity landmarks the method's 8-bit training images were mapped to
    (data/standardise.py; nothing for a method trained without them), and a line per 8-bit
    input saying what was done."""
    if not method.intensity_landmarks:
        return prepared, []
    eight_bit = [m for m in inputs if m in case.eight_bit]
    return standardise_inputs(prepared, eight_bit, method.intensity_landmarks)


def back_to_case_grid(grid: GridInfo, volume: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(S, H, W) prepared slices -> (X, Y, Z) float32 on the original grid, 0 outside ``brain``."""
    return np.where(brain, to_original_grid(grid, volume).astype(np.float32), np.float32(0.0))


def synthesize_loaded_case(
    method: Method,
    case: Case,
    config: Config,
    plan: SynthesisPlan,
    options: SamplingOptions,
    progress: Callable[[int, int], object] | None = None,
) -> dict[str, VolumePair]:
    """Synthesise ``plan.targets`` of a loaded case from ``plan.inputs`` (original grid).
    ``progress(done, total)`` follows the brain slices as their batches finish."""
    modalities = tuple(method.modalities)
    # In-plane resampling (config.data.spacing > 0) blurs the brain's edge on the way back:
    # the original-grid mask decides what is brain, as for the inputs.
    brain = brain_mask(case)
    size, spacing = config.model.image_size, config.data.spacing
    prepared = prepare_case(case, modalities, size, spacing, brain)
    prepared, notes = model_inputs(method, case, prepared, plan.inputs)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    present = np.array([m in plan.inputs for m in modalities], dtype=bool)
    total, done = int(brain_slices(prepared.mask).size), 0

    def advance(slices: int) -> None:
        nonlocal done
        done += slices
        if progress is not None:
            progress(done, total)

    result = synthesize_slices(method, prepared.images, present, prepared.mask, options, advance)
    volumes: dict[str, VolumePair] = {}
    for target in plan.targets:
        index = modalities.index(target)
        mean = back_to_case_grid(prepared.grid, result.mean[index], brain)
        std = None
        if result.std is not None:
            std = back_to_case_grid(prepared.grid, result.std[index], brain)
        volumes[target] = (mean, std)
    return volumes


def synthesize_case(
    method: Method,
    case_files: CaseFiles,
    modalities: Sequence[str],
    config: Config,
    targets: Sequence[str] | None = None,
    leave_out: Sequence[str] = (),
    options: SamplingOptions | None = None,
) -> dict[str, VolumePair]:
    """Load a case and synthesise its missing (or asked) modalities.

    Returns target -> (mean, std or None), float32 volumes of the case's original shape
    and voxel order in [0, 1] (0 outside the brain); ``modalities`` is the model's list.
    """
    case = load_case(case_files, tuple(modalities), resample=config.data.resample)
    present = [m for m in modalities if m in case.images]
    plan = plan_synthesis(case.case_id, tuple(modalities), present, targets, leave_out)
    options = options or SamplingOptions.from_config(config.sampling)
    return synthesize_loaded_case(method, case, config, plan, options)
