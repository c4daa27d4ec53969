"""The Python API: a trained run as a function from the modalities a patient has to the ones
they lack, on the patient's own grid.

    from mmhvae import Synthesizer

    synth = Synthesizer.load("runs/r1")                 # a run folder or a checkpoint file
    out = synth({"t1ce": "t1ce.nii.gz", "flair": flair_image}, samples=4)
    out["t2"].mean, out["t2"].std                       # numpy (X, Y, Z), the inputs' grid
    out["t2"].image().to_filename("t2_synth.nii.gz")    # a nibabel image with that affine

Inputs are paths, nibabel images or numpy arrays (with ``affine=``), all on one grid; the
values come back in the normalised space of EVALUATION.md ([0, 1], 0 outside the brain),
exactly what ``mmhvae synthesize`` writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from mmhvae.config import Config
from mmhvae.data.case import Case, choose_reference, image_problem, stored_in_one_byte
from mmhvae.data.grid import describe_grid, grid_mismatches
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.data.modalities import canonical_modality
from mmhvae.data.nifti import load_volume
from mmhvae.errors import DataError
from mmhvae.methods.base import Method
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import load_method
from mmhvae.synthesis.case import known_modalities, plan_synthesis, synthesize_loaded_case

Input = str | Path | nib.Nifti1Image | np.ndarray


@dataclass
class Synthesized:
    """One synthesised modality: mean (X, Y, Z) float32 and std (or None for one sample)."""

    mean: np.ndarray
    std: np.ndarray | None
    affine: np.ndarray

    def image(self, std: bool = False) -> nib.Nifti1Image:
        """The mean (or the std) as a float32 NIfTI image with the inputs' affine."""
        data = self.std if std else self.mean
        if data is None:
            raise ValueError("no std: synthesise with samples > 1")
        return nib.Nifti1Image(data.astype(np.float32), self.affine)


class Synthesizer:
    """A trained method with its config, ready to synthesise (load with :meth:`load`)."""

    def __init__(self, method: Method, config: Config, device: str = "cpu") -> None:
        self.method, self.config, self.device = method, config, device

    @classmethod
    def load(cls, run_or_checkpoint: str | Path, device: str | None = None) -> Synthesizer:
        """A run folder (its last checkpoint) or a checkpoint file, on ``device`` (default:
        cuda when available)."""
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        method, config, _ = load_method(run_or_checkpoint, device)
        return cls(method, config, device)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.method.modalities)

    def __call__(
        self,
        inputs: Mapping[str, Input],
        affine: np.ndarray | None = None,
        targets: Sequence[str] | None = None,
        samples: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        mask: np.ndarray | None = None,
    ) -> dict[str, Synthesized]:
        """Every modality of the model the inputs lack (or ``targets``), from ``inputs``
        (modality name -> path, nibabel image or array; arrays need ``affine``). ``mask``:
        an optional brain mask on the same grid (else: voxels > 0 in any input)."""
        case = case_from_inputs(inputs, affine, mask, self.modalities)
        options = self.options(samples, temperature, seed)
        return self.synthesize_case(case, targets, options)

    def options(
        self, samples: int | None, temperature: float | None, seed: int | None
    ) -> SamplingOptions:
        """The run's sampling config with the choices that are not None on top."""
        return SamplingOptions.from_config(
            self.config.sampling,
            temperature=temperature,
            samples=samples,
            seed=seed,
            device=self.device,
        )

    def synthesize_case(
        self, case: Case, targets: Sequence[str] | None, options: SamplingOptions
    ) -> dict[str, Synthesized]:
        plan = plan_synthesis(
            case.case_id,
            self.modalities,
            [m for m in self.modalities if m in case.images],
            known_modalities(targets, self.modalities, "targets") if targets else None,
            (),
        )
        volumes = synthesize_loaded_case(self.method, case, self.config, plan, options)
        return {t: Synthesized(mean, std, case.affine) for t, (mean, std) in volumes.items()}


def case_from_inputs(
    inputs: Mapping[str, Input],
    affine: np.ndarray | None,
    mask: np.ndarray | None,
    modalities: tuple[str, ...],
) -> Case:
    """The inputs as a loaded case on one grid (DataError naming the input otherwise)."""
    if not inputs:
        raise DataError("no input modality given")
    images: dict[str, np.ndarray] = {}
    affines: dict[str, np.ndarray] = {}
    headers: dict[str, nib.Nifti1Header] = {}
    eight_bit: list[str] = []
    for name, value in inputs.items():
        modality = canonical_modality(name)
        if modality not in modalities:
            raise DataError(f"input {name!r}: the model knows {', '.join(modalities)}")
        data, affines[modality], header = _array(name, value, affine)
        problem = image_problem(data)
        if problem is not None:
            raise DataError(f"input {name!r}: {problem}")
        images[modality] = data
        if header is not None:
            headers[modality] = header
        if _one_byte(value, header):
            eight_bit.append(modality)
    reference = choose_reference(sorted(images, key=modalities.index))
    shape = images[reference].shape
    grids = {m: (data.shape, affines[m]) for m, data in images.items()}
    for modality in grid_mismatches(grids, reference):
        raise DataError(
            f"input {modality!r}: not on the grid of {reference!r} "
            f"({describe_grid(*grids[modality])} vs {describe_grid(*grids[reference])}); "
            "resample it first or use `mmhvae synthesize`, which does"
        )
    header = headers.get(reference) or _header(shape, affines[reference])
    brain = None if mask is None else np.asarray(mask) > 0
    if brain is not None and brain.shape != shape:
        raise DataError(f"mask: shape {brain.shape}, the inputs are {shape}")
    return Case(
        case_id="input",
        images=images,
        affine=affines[reference],
        header=header,
        shape=tuple(int(s) for s in shape),  # type: ignore[arg-type]
        seg=None,
        mask=brain,
        files=CaseFiles("input", {}, None, None, Layout.CSV),
        reference=reference,
        eight_bit=tuple(m for m in modalities if m in eight_bit),
    )


def _one_byte(value: Any, header: nib.Nifti1Header | None) -> bool:
    """Whether an input stores one byte per voxel: its file's or image's header, else the
    array's own dtype (data/standardise.py maps such inputs for a model trained with it)."""
    if header is not None:
        return stored_in_one_byte(header)
    if isinstance(value, nib.spatialimages.SpatialImage):
        return stored_in_one_byte(value)
    return isinstance(value, np.ndarray) and value.dtype.itemsize == 1


def _array(
    name: str, value: Any, affine: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, nib.Nifti1Header | None]:
    """(data, affine, the file's header or None) of one input."""
    if isinstance(value, (str, Path)):
        volume = load_volume(value)
        return volume.data, volume.affine, volume.header
    if isinstance(value, nib.spatialimages.SpatialImage):
        data = np.asarray(value.dataobj, dtype=np.float32)
        header = value.header if isinstance(value.header, nib.Nifti1Header) else None
        return _checked(name, data), np.asarray(value.affine, dtype=np.float64), header
    if affine is None:
        raise DataError(f"input {name!r}: a numpy array needs affine= (its voxel-to-world 4x4)")
    data = _checked(name, np.asarray(value, dtype=np.float32))
    return data, np.asarray(affine, np.float64), None


def _header(shape: tuple[int, ...], affine: np.ndarray) -> nib.Nifti1Header:
    """A header for inputs given as arrays: the shape and the affine as sform and qform."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    return header


def _checked(name: str, data: np.ndarray) -> np.ndarray:
    if data.ndim != 3:
        raise DataError(f"input {name!r}: expected a 3D volume, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise DataError(f"input {name!r}: holds non-finite values")
    return data
