"""``mmhvae predict``: one patient's files in, the missing modalities out as files, in the
format the next tool reads (synthesis/formats.py).

``cases`` (default): ``OUTPUT/{target}_synth.nii.gz``, the std maps in
``OUTPUT/std/{target}_synth_std.nii.gz``; ``brasyn``: ``OUTPUT/{case}-{t2w,...}.nii.gz``;
``nnunet``: ``OUTPUT/imagesTs/{case}_{XXXX}{ending}`` for every channel. Every synthesised
file has the reference input's header and is marked synthetic (descrip + JSON sidecar).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmhvae import output_folder
from mmhvae.data.grid import describe_grid, same_grid
from mmhvae.data.layouts import CaseFiles, Layout
from mmhvae.data.modalities import canonical_modality
from mmhvae.data.nifti import load_volume
from mmhvae.data.patient import common_prefix
from mmhvae.errors import DataError, OutputExistsError
from mmhvae.runs import resolve_checkpoint
from mmhvae.synthesis.api import Synthesizer, case_from_inputs
from mmhvae.synthesis.case import synthesize_loaded_case
from mmhvae.synthesis.formats import (
    DEFAULT_SUFFIX,
    STD_FOLDER,
    STD_SUFFIX,
    OutputFormat,
    OutputLayout,
    case_outputs,
    check_copies,
    plan_for_format,
    refuse_input_overlap,
    write_case,
)
from mmhvae.synthesis.provenance import ModelRecord, input_records

ANONYMOUS = "input"  # the case id of the ``cases`` format, which never names a file with it


def predict_files(
    model: str | Path,
    inputs: Mapping[str, str | Path],
    output: str | Path,
    targets: Sequence[str] | None = None,
    samples: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    device: str | None = None,
    overwrite: bool = False,
    mask: str | Path | None = None,
    format: OutputFormat | str = OutputFormat.CASES,
    dataset_json: str | Path | None = None,
    case_id: str | None = None,
) -> list[Path]:
    """Synthesise what one patient lacks from ``inputs`` (modality -> file, one grid) into
    ``output`` in ``format``; returns the written paths.

    ``mask``: the patient's brain mask (default: voxels > 0 in any input). ``case_id`` names
    the files of ``brasyn`` and ``nnunet`` (default: the common prefix of the inputs' names,
    ``BraTS-GLI-00001-000`` of ``BraTS-GLI-00001-000-t1c.nii.gz``). Existing outputs are
    refused unless ``overwrite``.
    """
    layout = OutputLayout.of(format, dataset_json, targets=targets)
    paths = {canonical_modality(m): Path(p) for m, p in inputs.items()}
    name = _case_id(layout, paths, case_id)
    folder = Path(output)
    if layout.marked:  # what can be refused is, before the model is loaded
        output_folder.check_adoptable(folder, "predict")
    synth = Synthesizer.load(model, device)
    case = case_from_inputs(paths, None, None, synth.modalities)  # each file read once
    case = replace(case, case_id=name, mask=_mask(mask, case.shape, case.affine))
    files = CaseFiles(name, paths, None, Path(mask) if mask else None, Layout.CSV)
    options = synth.options(samples, temperature, seed)
    plan, copied = plan_for_format(layout, name, synth.modalities, list(paths), targets)
    if layout.format is OutputFormat.BRASYN and not plan.targets:
        raise DataError(
            f"case {name}: has all of t1n, t1c, t2w, t2f: BraSyn synthesises the missing one"
        )
    with_std = options.samples > 1
    outputs = case_outputs(
        layout,
        name,
        folder,
        plan,
        {m: paths[m] for m in copied},
        with_std,
        lambda t: (
            folder / f"{t}{DEFAULT_SUFFIX}.nii.gz",
            folder / STD_FOLDER / f"{t}{DEFAULT_SUFFIX}{STD_SUFFIX}.nii.gz" if with_std else None,
        ),
    )
    refuse_input_overlap(files, outputs.paths)
    if layout.marked:
        output_folder.adopt(folder, "predict")
    existing = [p for p in outputs.paths if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]}: exists (use --overwrite to replace it)")
    if layout.nnunet is not None:
        check_copies(outputs, case, layout.nnunet.file_ending)
    volumes = (
        synthesize_loaded_case(synth.method, case, synth.config, plan, options)
        if plan.targets
        else {}
    )
    record = ModelRecord.of(resolve_checkpoint(model), synth.config.method)
    used = {m: paths[m] for m in plan.inputs} | ({"mask": Path(mask)} if mask else {})
    folder.mkdir(parents=True, exist_ok=True)
    return write_case(outputs, volumes, case, record, input_records(used), options, overwrite)


def _case_id(layout: OutputLayout, paths: Mapping[str, Path], given: str | None) -> str:
    """The case id that names brasyn and nnunet files: ``given``, else the inputs' common
    prefix; ``cases`` needs none."""
    if layout.format is OutputFormat.CASES:
        return given or ANONYMOUS
    found = given or common_prefix(dict(paths))
    if found is None:
        names = ", ".join(p.name for p in paths.values())
        raise DataError(
            f"--format {layout.format.value} names files after the case, and the inputs' "
            f"names ({names}) share no case name before their modality token: give --case-id"
        )
    return layout.check_case_id(found)


def _mask(path: str | Path | None, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray | None:
    """The brain mask file as booleans on the inputs' grid (DataError naming it otherwise)."""
    if path is None:
        return None
    volume = load_volume(path, "mask")
    if not same_grid(volume.shape, volume.affine, shape, affine):
        raise DataError(
            f"{path}: the mask is on {describe_grid(volume.shape, volume.affine)}, the inputs "
            f"on {describe_grid(shape, affine)}"
        )
    brain = volume.data > 0
    if not brain.any():
        raise DataError(f"{path}: the mask is empty (no voxel > 0)")
    return brain
