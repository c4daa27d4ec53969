"""Output formats of ``synthesize`` and ``predict`` (``--format``): which files a case gets and
where they go, so that the next tool reads the folder as it is.

``cases``: each case's own naming scheme plus ``--suffix`` (today's default layout).

``brasyn``: the submission of the BraTS 2023/2024 missing-MRI synthesis challenge (BraSyn):
ONE flat folder of ``BraTS-GLI-XXXXX-YYY-{t1n,t1c,t2w,t2f}.nii.gz``, the real name of the
missing file. Sources: the organisers' tutorial, github.com/hongweilibran/BraSyn README
("one modality will be randomly dropped during the test stage"; "after synthesizing the
missing one, you DO NOT need to copy the other three files to the output folder") and its
``detect_and_syn_missing_modality.py`` (output named ``{case}-{missing}.nii.gz``, "the naming
format should be the same as training/validation set. DO NOT add any suffixes, such as
'-synthetic.nii.gz'"). So a case must miss exactly one of the four and have a BraTS 2023 id;
inputs are neither copied nor touched. The organisers' scripts list folders with
``os.listdir``, so the sidecars go to ``provenance/``, not beside the submitted files.

``nnunet``: ``imagesTs/{CASE}_{XXXX}{file_ending}`` for EVERY channel of a dataset.json: real
inputs copied byte for byte, missing channels synthesised, so ``nnUNetv2_predict -i
OUT/imagesTs`` gets complete cases on one grid. nnU-Net v2 lists an input folder with
``subfiles(folder, suffix=file_ending)`` and builds each case from ``{case}_\\d{4}{ending}``
(nnunetv2/utilities/utils.py, ``create_lists_from_splitted_dataset_folder``): files with
another ending, such as the JSON sidecars, are ignored, so the sidecars stay beside.

In ``brasyn`` and ``nnunet`` (and for ``predict``) the std maps of ``--samples N > 1`` go to
``std/``, never into what the next tool reads.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import nibabel as nib

from mmhvae.data.case import Case
from mmhvae.data.grid import describe_grid, same_grid
from mmhvae.data.layouts import CaseFiles, Layout, check_case_id
from mmhvae.data.modalities import canonical_modality
from mmhvae.errors import DataError, OutputExistsError
from mmhvae.files import atomic_path
from mmhvae.methods.sampling import SamplingOptions
from mmhvae.synthesis.case import (
    SynthesisPlan,
    VolumePair,
    known_modalities,
    plan_synthesis,
)
from mmhvae.synthesis.provenance import ModelRecord, save_synthetic

STD_SUFFIX = "_std"
STD_FOLDER = "std"
PROVENANCE_FOLDER = "provenance"
NNUNET_IMAGES = "imagesTs"
DEFAULT_SUFFIX = "_synth"
# The four BraTS contrasts; BraSyn gives three of them and asks for the fourth.
BRATS_MODALITIES = ("t1", "t1ce", "t2", "flair")
# BraTS 2023+ case ids: task (GLI, MET, MEN, PED, SSA), 5-digit patient, 3-digit timepoint.
BRASYN_CASE_ID = re.compile(r"^BraTS-[A-Z]+-\d{5}-\d{3}$")
NNUNET_ENDINGS = (".nii.gz", ".nii")  # what this package writes


class OutputFormat(str, Enum):
    CASES = "cases"
    BRASYN = "brasyn"
    NNUNET = "nnunet"


@dataclass(frozen=True)
class NnunetChannels:
    """The channels of an nnU-Net v2 dataset.json: (index, canonical modality) by index,
    and the file ending every image of the dataset has."""

    channels: tuple[tuple[int, str], ...]
    file_ending: str
    source: Path

    @classmethod
    def read(cls, path: str | Path) -> NnunetChannels:
        """Parse ``channel_names`` and ``file_ending``; DataError naming the file otherwise."""
        path = Path(path)
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: unreadable dataset.json ({error})") from None
        names = spec.get("channel_names") if isinstance(spec, dict) else None
        if not isinstance(names, dict) or not names:
            raise DataError(f"{path}: no 'channel_names' mapping (an nnU-Net v2 dataset.json)")
        ending = spec.get("file_ending")
        if ending not in NNUNET_ENDINGS:
            raise DataError(
                f"{path}: file_ending {ending!r}: mmhvae writes NIfTI "
                f"({' or '.join(NNUNET_ENDINGS)})"
            )
        channels: dict[int, str] = {}
        for key, name in names.items():
            if not str(key).isdigit() or int(key) > 9999:
                raise DataError(f"{path}: channel index {key!r} is not a number 0..9999")
            try:
                channels[int(key)] = canonical_modality(str(name))
            except DataError as error:
                raise DataError(f"{path}: channel {key}: {error}") from None
        if len(set(channels.values())) != len(channels):
            raise DataError(f"{path}: two channels have the same modality ({names})")
        return cls(tuple(sorted(channels.items())), str(ending), path)

    def file_name(self, case_id: str, index: int, suffix: str = "") -> str:
        return f"{case_id}_{index:04d}{suffix}{self.file_ending}"


@dataclass(frozen=True)
class OutputLayout:
    """The chosen format with what it needs (the suffix of ``cases``, the nnU-Net channels)."""

    format: OutputFormat = OutputFormat.CASES
    suffix: str = DEFAULT_SUFFIX
    nnunet: NnunetChannels | None = None

    @classmethod
    def of(
        cls,
        format: OutputFormat | str = OutputFormat.CASES,
        dataset_json: str | Path | None = None,
        suffix: str = DEFAULT_SUFFIX,
        targets: Sequence[str] | None = None,
    ) -> OutputLayout:
        """Check that the options fit together (DataError naming them) and read the json."""
        try:
            chosen = OutputFormat(str(format.value if isinstance(format, Enum) else format))
        except ValueError:
            known = ", ".join(f.value for f in OutputFormat)
            raise DataError(f"--format {format!r}: unknown (known: {known})") from None
        if chosen is OutputFormat.NNUNET and dataset_json is None:
            raise DataError("--format nnunet needs --dataset-json PATH (its channels and ending)")
        if chosen is not OutputFormat.NNUNET and dataset_json is not None:
            raise DataError(f"--dataset-json applies to --format nnunet, not {chosen.value}")
        if chosen is not OutputFormat.CASES and suffix != DEFAULT_SUFFIX:
            raise DataError(
                f"--suffix {suffix!r} does not apply to --format {chosen.value}: its file names "
                "are the ones the next tool expects"
            )
        if chosen is not OutputFormat.CASES and targets:
            raise _targets_refused(chosen)
        channels = NnunetChannels.read(dataset_json) if dataset_json is not None else None
        return cls(chosen, suffix, channels)

    def check_case_id(self, case_id: str) -> str:
        """``case_id`` when it can name this format's files; DataError naming it if not."""
        check_case_id(case_id, f"case {case_id!r}")
        if self.format is OutputFormat.BRASYN and not BRASYN_CASE_ID.match(case_id):
            raise DataError(
                f"case {case_id!r}: --format brasyn names its output like the BraTS 2023 file "
                "(BraTS-GLI-00001-000-t2w.nii.gz): the case id must be BraTS-GLI-XXXXX-YYY style"
            )
        return case_id

    @property
    def marked(self) -> bool:
        """Whether the output folder gets the ``.mmhvae-output`` marker: these formats name
        files like real scans (no suffix), so only a folder mmhvae made is written into."""
        return self.format is not OutputFormat.CASES


@dataclass(frozen=True)
class Output:
    """Where one synthesised modality goes: mean, std (or None) and the mean's sidecar
    (None: beside the mean)."""

    modality: str
    mean: Path
    std: Path | None
    sidecar: Path | None = None


@dataclass(frozen=True)
class CaseOutputs:
    """What one case gets: the synthesis plan, its outputs and the real files copied
    (source, destination)."""

    plan: SynthesisPlan
    outputs: tuple[Output, ...]
    copies: tuple[tuple[Path, Path], ...] = ()

    @property
    def paths(self) -> list[Path]:
        """Every NIfTI file the case writes (resuming checks these)."""
        files = [o.mean for o in self.outputs] + [o.std for o in self.outputs if o.std]
        return files + [destination for _, destination in self.copies]


def plan_for_format(
    layout: OutputLayout,
    case_id: str,
    modalities: Sequence[str],
    present: Sequence[str],
    targets: Sequence[str] | None = None,
    leave_out: Sequence[str] = (),
) -> tuple[SynthesisPlan, tuple[str, ...]]:
    """(inputs and targets, present modalities to copy) of one case in ``layout``.

    ``modalities``: the model's; ``present``: the case's (also those the model does not
    know); ``leave_out``: present ones treated as absent. ``cases`` synthesises ``targets``
    (default: all absent); the other formats decide their targets themselves.
    """
    if layout.format is OutputFormat.CASES:
        return plan_synthesis(case_id, modalities, present, targets, leave_out), ()
    if targets:
        raise _targets_refused(layout.format)
    left_out = set(known_modalities(leave_out, modalities, "--leave-out"))
    kept = [m for m in present if m not in left_out]
    copies: tuple[str, ...] = ()
    layout.check_case_id(case_id)
    if layout.format is OutputFormat.BRASYN:
        wanted = brasyn_target(case_id, kept, modalities)
    else:
        assert layout.nnunet is not None
        wanted, copies = nnunet_targets(layout.nnunet, case_id, kept, modalities)
    if wanted:
        return plan_synthesis(case_id, modalities, present, wanted, leave_out), copies
    inputs = tuple(m for m in modalities if m in kept)
    return SynthesisPlan(inputs=inputs, targets=()), copies


def _targets_refused(format: OutputFormat) -> DataError:
    return DataError(
        f"--targets does not apply to --format {format.value}: it synthesises what the "
        "format needs (use --leave-out to synthesise a present modality)"
    )


def brasyn_target(case_id: str, kept: Sequence[str], modalities: Sequence[str]) -> tuple[str, ...]:
    """The one BraTS modality the case misses (``()`` when it misses none); DataError when
    it misses more than one or the model lacks it."""
    missing = [m for m in BRATS_MODALITIES if m not in kept]
    if len(missing) > 1:
        names = ", ".join(_brasyn_token(m) for m in missing)
        raise DataError(
            f"case {case_id}: {names} are missing; BraSyn synthesises exactly one missing "
            "modality per case from the other three"
        )
    if missing and missing[0] not in modalities:
        raise DataError(
            f"case {case_id}: misses {missing[0]}, which the model does not synthesise "
            f"(it was trained for {', '.join(modalities)})"
        )
    return tuple(missing)


def nnunet_targets(
    spec: NnunetChannels, case_id: str, kept: Sequence[str], modalities: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(channels to synthesise, channels to copy); DataError for a channel the case lacks
    and the model cannot synthesise."""
    synthesise, copy = [], []
    for index, modality in spec.channels:
        if modality in kept:
            copy.append(modality)
        elif modality in modalities:
            synthesise.append(modality)
        else:
            raise DataError(
                f"case {case_id}: channel {index:04d} ({modality}) of {spec.source} is neither "
                f"among the case's files nor a modality the model synthesises "
                f"({', '.join(modalities)})"
            )
    return tuple(synthesise), tuple(copy)


def _brasyn_token(modality: str) -> str:
    """t1 -> t1n, t1ce -> t1c, t2 -> t2w, flair -> t2f: BraTS 2023 naming (layouts.py)."""
    name = CaseFiles("x", {}, None, None, Layout.BRATS2023).output_name(modality, "")
    return name[len("x-") : -len(".nii.gz")]


def case_outputs(
    layout: OutputLayout,
    case_id: str,
    output: Path,
    plan: SynthesisPlan,
    copies: Mapping[str, Path],
    with_std: bool,
    cases_paths: Callable[[str], tuple[Path, Path | None]],
) -> CaseOutputs:
    """Every path one case writes in ``layout`` (all checked to lie inside ``output``).

    ``copies``: modality -> real file to copy (nnunet); ``cases_paths(target)`` names the
    mean and std of the ``cases`` format (each command has its own scheme).
    """
    what = f"case {case_id!r}"
    layout.check_case_id(case_id)
    outputs = []
    for target in plan.targets:
        if layout.format is OutputFormat.CASES:
            mean, std = cases_paths(target)
            found = Output(target, mean, std)
        elif layout.format is OutputFormat.BRASYN:
            name = f"{case_id}-{_brasyn_token(target)}"
            found = Output(
                target,
                output / f"{name}.nii.gz",
                output / STD_FOLDER / f"{name}{STD_SUFFIX}.nii.gz" if with_std else None,
                output / PROVENANCE_FOLDER / f"{name}.json",
            )
        else:
            found = _nnunet_output(layout, case_id, output, target, with_std)
        outputs.append(found)
    pairs = []
    if layout.nnunet is not None:
        index = {m: i for i, m in layout.nnunet.channels}
        for modality, source in copies.items():
            name = layout.nnunet.file_name(case_id, index[modality])
            pairs.append((Path(source), output / NNUNET_IMAGES / name))
    result = CaseOutputs(plan, tuple(outputs), tuple(pairs))
    for path in result.paths + [o.sidecar for o in outputs if o.sidecar]:
        inside_output(path, output, what)
    return result


def _nnunet_output(
    layout: OutputLayout, case_id: str, output: Path, target: str, with_std: bool
) -> Output:
    assert layout.nnunet is not None
    index = {m: i for i, m in layout.nnunet.channels}[target]
    mean = output / NNUNET_IMAGES / layout.nnunet.file_name(case_id, index)
    std_name = layout.nnunet.file_name(case_id, index, STD_SUFFIX)
    return Output(target, mean, output / STD_FOLDER / std_name if with_std else None)


def inside_output(path: Path, output: Path, what: str) -> Path:
    """``path`` when, resolved, it lies inside ``output`` (resolved); DataError if not."""
    root = Path(output).resolve()
    resolved = Path(path).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise DataError(f"{what}: output {path} would lie outside the output folder {output}")
    return path


def refuse_input_overlap(files: CaseFiles, paths: Iterable[Path]) -> None:
    """DataError when an output path is one of the case's files (resolved)."""
    inputs = {p.resolve() for p in files.images.values()}
    inputs |= {p.resolve() for p in (files.mask, files.seg) if p is not None}
    for path in paths:
        if Path(path).resolve() in inputs:
            raise DataError(
                f"{path}: would replace an input file of case {files.case_id} "
                "(choose another --output or a non-empty --suffix)"
            )


def check_copies(outputs: CaseOutputs, case: Case, ending: str) -> None:
    """DataError unless every file to copy has ``ending`` (a byte-for-byte copy keeps its
    format) and lies on the case's grid (nnU-Net needs every channel on one grid)."""
    for source, _ in outputs.copies:
        if not source.name.lower().endswith(ending.lower()):
            raise DataError(
                f"{source}: the dataset.json's file_ending is {ending}; a byte-for-byte copy "
                f"would not be a {ending} file: convert it first"
            )
        try:
            image = nib.load(source)  # header only
            grid = (tuple(image.shape), image.affine)  # type: ignore[attr-defined]
        except Exception as error:  # nibabel raises many types for a damaged file
            raise DataError(f"{source}: unreadable NIfTI header ({error})") from None
        if not same_grid(grid[0], grid[1], case.shape, case.affine):
            raise DataError(
                f"{source}: on {describe_grid(*grid)}, the case's grid ({case.reference}) is "
                f"{describe_grid(case.shape, case.affine)}; nnU-Net needs every channel of a "
                "case on one grid: resample it first"
            )


def copy_file(source: Path, destination: Path, overwrite: bool) -> bool:
    """Copy ``source`` byte for byte through the atomic writer (never moved or linked);
    False when ``destination`` exists and not ``overwrite`` (or another writer won)."""
    if destination.exists() and not overwrite:
        return False
    try:
        # the temporary name does not end like a volume: nnU-Net never lists it as one
        with atomic_path(destination, exclusive=not overwrite) as tmp:
            shutil.copyfile(source, tmp)
    except FileExistsError:
        return False
    return True


def write_case(
    outputs: CaseOutputs,
    volumes: Mapping[str, VolumePair],
    case: Case,
    model: ModelRecord | None,
    records: Mapping[str, Mapping[str, str]],
    sampling: SamplingOptions,
    overwrite: bool,
) -> list[Path]:
    """Save every output of ``outputs`` marked synthetic (``volumes`` from
    ``synthesize_loaded_case``) and copy every real file; returns what was written.

    A file that exists is kept unless ``overwrite``: an earlier, interrupted run with the
    same seed wrote it, or another process writing into the folder claimed it first.
    """
    written: list[Path] = []
    for target in outputs.outputs:
        mean, std = volumes[target.modality]
        for path, volume, kind in ((target.mean, mean, "mean"), (target.std, std, "std")):
            if path is None or volume is None or (path.exists() and not overwrite):
                continue
            try:
                save_synthetic(
                    path,
                    volume,
                    case.affine,
                    case.header,
                    target.modality,
                    kind,
                    outputs.plan.inputs,
                    model,
                    records,
                    sampling,
                    overwrite,
                    target.sidecar if kind == "mean" else None,
                )
            except OutputExistsError:
                continue
            written.append(path)
    for source, destination in outputs.copies:
        if copy_file(source, destination, overwrite):
            written.append(destination)
    return written
