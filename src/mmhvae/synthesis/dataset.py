"""A dataset (or one case) in, NIfTI files of the synthesised modalities out.

In the default ``cases`` format files are named in each case's own scheme
(``CaseFiles.output_name``), in its own sub-folder (``CaseFiles.output_subdir``), so the
output folder reads like the input layout; a suffix (default ``_synth``) marks them as
synthetic, ``_std`` is added for the uncertainty map. ``brasyn`` and ``nnunet`` write what
those tools read (synthesis/formats.py).
Every file is written atomically on the case's original grid with its affine and header.
A case whose outputs all exist is skipped (a killed run resumes); nothing is overwritten
without ``overwrite``; a bad case is reported and skipped, the others are still written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from mmhvae import output_folder
from mmhvae.config import Config
from mmhvae.data.case import load_case
from mmhvae.data.layouts import CaseFiles, check_suffix, discover_cases
from mmhvae.errors import DataError, failure_message
from mmhvae.methods.base import Method
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.runs import load_method, resolve_checkpoint
from mmhvae.synthesis.case import VolumePair, known_modalities, synthesize_loaded_case
from mmhvae.synthesis.formats import (
    STD_SUFFIX,
    CaseOutputs,
    OutputFormat,
    OutputLayout,
    case_outputs,
    check_copies,
    inside_output,
    plan_for_format,
    refuse_input_overlap,
    write_case,
)
from mmhvae.synthesis.provenance import ModelRecord, input_records

log = logging.getLogger(__name__)


@dataclass
class SynthesisReport:
    """What a dataset run did: files written, cases skipped (why), cases failed (why), and
    the warnings of the cases it loaded."""

    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the data layer's (resampling, ...)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_batch_size(device: str | torch.device, image_size: int = 192) -> int:
    """Slices per model call: on CPU as many as hold 8 slices of 192 x 192 pixels (measured
    on 2 cores with the default model: 8 slices per call 13.6 s per case, 16: 18.2 s, 32:
    52.3 s; larger batches fall out of cache); 160 on a GPU."""
    if torch.device(device).type == "cuda":
        return 160
    return max(1, (8 * 192 * 192) // (image_size * image_size))


def output_paths(
    files: CaseFiles, output: Path, target: str, suffix: str, with_std: bool
) -> tuple[Path, Path | None]:
    """Where the mean (and std) of ``target`` go for this case in the ``cases`` format.

    DataError when a path would not lie inside ``output`` once resolved (a case id or suffix
    with ``..`` or a separator, a symbolic link out of the folder).
    """
    folder = output / files.output_subdir if files.output_subdir else output
    mean = folder / files.output_name(target, suffix)
    std = folder / files.output_name(target, suffix + STD_SUFFIX) if with_std else None
    for path in (mean, std):
        if path is not None:
            inside_output(path, output, f"case {files.case_id!r}")
    return mean, std


@dataclass(frozen=True)
class SynthesisOptions:
    """The per-run choices of a dataset synthesis (see :func:`synthesize_dataset`)."""

    sampling: SamplingOptions
    targets: tuple[str, ...] | None = None
    leave_out: tuple[str, ...] = ()
    overwrite: bool = False
    model: ModelRecord | None = None  # for the outputs' descrip and sidecars
    layout: OutputLayout = OutputLayout()  # --format, --suffix, the nnU-Net channels
    progress: bool = True  # a bar per case over its brain slices (beside the one over cases)


def synthesize_dataset(
    model: str | Path,
    input: str | Path,
    output: str | Path,
    targets: Sequence[str] | None = None,
    leave_out: Sequence[str] = (),
    temperature: float | None = None,
    n_samples: int | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    suffix: str = "_synth",
    overwrite: bool = False,
    seed: int | None = None,
    layout: str | None = None,
    progress: bool = True,
    allow_synthetic: bool = False,
    format: OutputFormat | str = OutputFormat.CASES,
    dataset_json: str | Path | None = None,
    split: str | None = None,
) -> SynthesisReport:
    """Synthesise the missing (or asked) modalities of every case of ``input``.

    ``model`` is a run folder or checkpoint; ``input`` a dataset folder, a case folder or a
    CSV manifest (files marked synthetic are not inputs unless ``allow_synthetic``). Every
    output names mmhvae, its inputs and the model in its ``descrip`` and has a JSON sidecar
    (synthesis/provenance.py). Sampling settings left None come from the run's config
    (``sampling``). Errors that concern the whole run (checkpoint, unknown
    modality names, no cases) raise; an error in one case (its data, an input pattern the
    method refuses, a failed write) is recorded in ``report.failed`` and the run goes on.
    ``split`` (nnU-Net raw: ``tr`` or ``ts``; None: ``imagesTs`` when there is one, else
    ``imagesTr``). ``format`` (synthesis/formats.py): ``cases``, ``brasyn`` or ``nnunet`` (with
    ``dataset_json``); the latter two write only into a folder mmhvae made (the marker).
    """
    device = device or default_device()
    check_suffix(suffix)
    layout_out = OutputLayout.of(format, dataset_json, suffix, targets)
    if layout_out.marked:  # refused before the model is loaded, created once all is checked
        output_folder.check_adoptable(output, "synthesize")
    if n_samples is not None and n_samples < 1:
        raise DataError(f"--samples {n_samples}: must be at least 1")
    if temperature is not None and not temperature >= 0:
        raise DataError(f"--temperature {temperature}: must be at least 0")
    method, config, modalities = load_method(model, device)
    sampling = SamplingOptions.from_config(
        config.sampling,
        temperature=temperature,
        samples=n_samples,
        seed=seed,
        batch_size=batch_size or default_batch_size(device, config.model.image_size),
        device=device,
    )
    options = SynthesisOptions(
        sampling=sampling,
        targets=known_modalities(targets, modalities, "--targets") if targets else None,
        leave_out=known_modalities(leave_out, modalities, "--leave-out"),
        overwrite=overwrite,
        model=ModelRecord.of(resolve_checkpoint(model), config.method),
        layout=layout_out,
        progress=progress,
    )
    cases = discover_cases(input, layout, allow_synthetic=allow_synthetic, split=split)
    if layout_out.marked:
        output_folder.adopt(output, "synthesize")
    report = SynthesisReport()
    for files in tqdm(cases, desc="synthesis", unit="case", disable=not progress):
        try:
            _one_case(method, config, files, Path(output), options, report)
        except Exception as error:  # one bad case is that case's failure, never the run's
            report.failed[files.case_id] = failure_message(error)
            log.warning("case %s failed: %s", files.case_id, report.failed[files.case_id])
    return report


def _one_case(
    method: Method,
    config: Config,
    files: CaseFiles,
    output: Path,
    options: SynthesisOptions,
    report: SynthesisReport,
) -> None:
    modalities = tuple(method.modalities)
    outputs = _plan(files, output, options, list(files.images), modalities)
    refuse_input_overlap(files, outputs.paths)
    if not outputs.plan.targets and not outputs.copies:
        report.skipped[files.case_id] = "nothing to synthesise (every asked modality is present)"
        return
    if not options.overwrite and all(p.exists() for p in outputs.paths):
        report.skipped[files.case_id] = "outputs exist (use --overwrite to replace them)"
        return
    case = load_case(files, modalities, resample=config.data.resample)
    report.warnings += case.warnings
    # an all-zero volume counts as absent only once loaded: plan again only then
    present = [m for m in files.images if m in case.images or m not in modalities]
    if present != list(files.images):
        outputs = _plan(files, output, options, present, modalities)
    if options.layout.nnunet is not None:
        check_copies(outputs, case, options.layout.nnunet.file_ending)
    plan = outputs.plan
    volumes: dict[str, VolumePair] = {}
    if plan.targets:
        with tqdm(
            desc=f"{files.case_id}: {'+'.join(plan.inputs)} -> {'+'.join(plan.targets)}",
            unit="slice",
            leave=False,
            disable=not options.progress,
        ) as bar:

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            volumes = synthesize_loaded_case(method, case, config, plan, options.sampling, advance)
    used = {m: files.images[m] for m in plan.inputs} | ({"mask": files.mask} if files.mask else {})
    report.written += write_case(
        outputs,
        volumes,
        case,
        options.model,
        input_records(used),
        options.sampling,
        options.overwrite,
    )


def _plan(
    files: CaseFiles,
    output: Path,
    options: SynthesisOptions,
    present: Sequence[str],
    modalities: tuple[str, ...],
) -> CaseOutputs:
    """The case's outputs in the chosen format, from the modalities taken as present."""
    layout = options.layout
    with_std = options.sampling.samples > 1
    plan, copied = plan_for_format(
        layout, files.case_id, modalities, present, options.targets, options.leave_out
    )
    return case_outputs(
        layout,
        files.case_id,
        output,
        plan,
        {m: files.images[m] for m in copied},
        with_std,
        lambda target: output_paths(files, output, target, layout.suffix, with_std),
    )
