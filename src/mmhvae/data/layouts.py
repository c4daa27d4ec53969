"""Dataset layouts on disk -> :class:`CaseFiles` (one per subject).

Read: BraTS 2021 folders (``BraTS2021_00000/BraTS2021_00000_t1ce.nii.gz``, and any folder
whose files are ``{folder}_{modality}.nii[.gz]``, e.g. BraTS 2018), BraTS 2023+ folders
(``BraTS-GLI-00000-000/BraTS-GLI-00000-000-t1c.nii.gz``), ReMIND derived
(``Case001-cet1.nii.gz``, flat or in case folders), a flat folder of several patients
(``{case}_{modality}.nii.gz`` or ``{case}-{modality}.nii.gz``, any alias), nnU-Net raw
(``imagesTr/{case}_0000.nii.gz`` + ``dataset.json``; ``imagesTr`` or ``imagesTs``, never
both, see :class:`Split`) and a CSV manifest (``case,modality,path,kind[,note]``).
Discovery reads names only; voxels are read by :mod:`mmhvae.data.case`.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from mmhvae.data.modalities import canonical_modality, is_modality, sort_modalities
from mmhvae.data.nifti import is_nifti, strip_nifti_suffix
from mmhvae.data.provenance import synthetic_mark
from mmhvae.errors import DataError

log = logging.getLogger(__name__)


class Layout(str, Enum):
    BRATS2021 = "brats2021"
    BRATS2023 = "brats2023"
    REMIND = "remind"
    NNUNET = "nnunet"
    CSV = "csv"
    FLAT = "flat"


class Split(str, Enum):
    """Which half of a dataset with a train/test split (nnU-Net raw) is read.

    ``imagesTr`` and ``imagesTs`` are never one case list: training on the test images would
    make every score on them meaningless. Training reads ``tr``; synthesis and evaluation
    read ``ts`` when the dataset has one (None: :func:`default_split`).
    """

    TR = "tr"
    TS = "ts"

    @property
    def folder(self) -> str:
        return "imagesTr" if self is Split.TR else "imagesTs"


SEG_TOKENS = frozenset({"seg", "label", "labels", "tumor", "tumour", "segmentation"})
MASK_TOKENS = frozenset({"mask", "brainmask", "brain_mask", "brain-mask"})

# How each layout spells a canonical modality in a file name (canonical when absent).
_TOKENS: dict[Layout, dict[str, str]] = {
    Layout.BRATS2021: {},
    Layout.BRATS2023: {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"},
    Layout.REMIND: {"t1ce": "cet1"},
}
_FOLDER_LAYOUTS = (Layout.BRATS2021, Layout.BRATS2023, Layout.REMIND)
_BRATS2023_FOLDER = re.compile(r"^brats-[a-z]+-", re.IGNORECASE)
# Characters that would let a name leave its folder or break a line of a report.
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one path component of an output file, or None when it can.

    Case ids and suffixes become parts of output paths: a separator, ``..``, a drive letter
    or a control character (a newline) would let a file land outside the output folder or
    forge a line of a report.
    """
    if name in (".", ".."):
        return f"{name!r} is not a name"
    if _UNSAFE_NAME.search(name):
        return f"{name!r} holds a path separator or a control character"
    if re.match(r"^[A-Za-z]:", name):
        return f"{name!r} starts with a drive letter"
    return None


def check_case_id(case_id: str, where: str) -> str:
    """``case_id`` when it is safe as a file name part; DataError naming ``where`` if not."""
    problem = "empty case id" if not case_id else name_problem(case_id)
    if problem is not None:
        raise DataError(f"{where}: case id {case_id!r} refused: {problem}")
    return case_id


def check_suffix(suffix: str, option: str = "--suffix") -> str:
    """``suffix`` when it is safe inside a file name; DataError naming the option if not."""
    problem = name_problem(suffix) if suffix else None
    if problem is not None:
        raise DataError(f"{option} {suffix!r}: {problem} (a suffix is part of a file name)")
    return suffix


@dataclass(frozen=True)
class CaseFiles:
    """The files of one case: canonical modality -> path, optional seg and brain mask."""

    case_id: str
    images: dict[str, Path]
    seg: Path | None
    mask: Path | None
    layout: Layout
    folder: Path | None = None  # the case's own folder (folder layouts), else None
    channels: dict[str, int] = field(default_factory=dict)  # nnU-Net: modality -> index
    # files left out because they are marked synthetic (data/provenance.py): modality -> path
    synthetic: dict[str, Path] = field(default_factory=dict)
    # files of this case that discovery could not use (named, with why): reported by
    # load_case and info, so one bad file does not make the whole dataset refused
    problems: tuple[str, ...] = ()
    split: Split | None = None  # nnU-Net: the folder the case was read from

    @property
    def modalities(self) -> tuple[str, ...]:
        return sort_modalities(self.images)

    @property
    def separator(self) -> str:
        """What follows the case id in its files' names (flat layout: ``_`` or ``-``)."""
        for path in self.images.values():
            after = path.name[len(self.case_id) : len(self.case_id) + 1]
            if path.name.startswith(self.case_id) and after in ("_", "-"):
                return after
        return "_"

    @property
    def output_subdir(self) -> str:
        """Sub-folder for this case's outputs: the case folder's name, or "" (flat layouts)."""
        if self.layout in _FOLDER_LAYOUTS and self.folder is not None:
            return self.folder.name
        return ""

    def output_name(self, modality: str, suffix: str = "_synth") -> str:
        """File name for a new volume of ``modality`` in this case's own naming scheme.

        Raises DataError when the case id or ``suffix`` could make it more than a file name.
        """
        modality = canonical_modality(modality)
        check_case_id(self.case_id, f"case {self.case_id!r}")
        check_suffix(suffix)
        if self.layout is Layout.BRATS2021:
            return f"{self.case_id}_{modality}{suffix}.nii.gz"
        if self.layout in (Layout.BRATS2023, Layout.REMIND):
            token = _TOKENS[self.layout].get(modality, modality)
            return f"{self.case_id}-{token}{suffix}.nii.gz"
        if self.layout is Layout.FLAT:
            return f"{self.case_id}{self.separator}{modality}{suffix}.nii.gz"
        if self.layout is Layout.NNUNET:
            if modality not in self.channels:
                known = ", ".join(f"{m}={i}" for m, i in self.channels.items())
                raise DataError(
                    f"case {self.case_id}: modality {modality!r} has no channel index in "
                    f"dataset.json (channels: {known})"
                )
            return f"{self.case_id}_{self.channels[modality]:04d}{suffix}.nii.gz"
        return f"{self.case_id}_{modality}{suffix}.nii.gz"


def parse_layout(layout: Layout | str | None) -> Layout | None:
    if layout is None or isinstance(layout, Layout):
        return layout
    text = str(layout).strip().lower().replace("-", "").replace("_", "")
    if not text:
        return None
    for option in Layout:
        if option.value == text:
            return option
    known = ", ".join(option.value for option in Layout)
    raise DataError(f"unknown layout {layout!r} (known: {known})")


def parse_split(split: Split | str | None) -> Split | None:
    """``split`` as a :class:`Split` ("tr", "ts", "imagesTr", ...); None stays None."""
    if split is None or isinstance(split, Split):
        return split
    text = str(split).strip().lower().removeprefix("images")
    for option in Split:
        if option.value == text:
            return option
    raise DataError(f"unknown split {split!r} (known: tr, ts)")


def detect_layout(path: str | Path) -> Layout:
    """The layout of DATA (a dataset folder, one case folder or a CSV manifest)."""
    path = Path(path)
    _check_exists(path)
    for layout in _DETECTION_ORDER:
        if _DISCOVER[layout](path):
            return layout
    raise DataError(_nothing_found(path))


def discover_cases(
    path: str | Path,
    layout: Layout | str | None = None,
    allow_synthetic: bool = False,
    split: Split | str | None = None,
) -> list[CaseFiles]:
    """Every case under ``path``, sorted by case id; ``layout`` forces a layout.

    ``split`` picks the half of an nnU-Net raw dataset (``imagesTr`` or ``imagesTs``; None:
    :func:`default_split`, the inference default); layouts without a split ignore it.
    Images marked synthetic (data/provenance.py) are left out of their case (listed in
    ``CaseFiles.synthetic``) unless ``allow_synthetic``; a case left with none is dropped."""
    wanted = parse_split(split)
    path = Path(path)
    _check_exists(path)
    forced = parse_layout(layout)
    if forced is None:
        forced = detect_layout(path)
        cases = _DISCOVER[forced](path)
    else:
        cases = _DISCOVER[forced](path)
        if not cases and forced is Layout.CSV and path.is_dir():
            raise DataError(f"{path}: is a folder, not a CSV manifest file")
        if not cases:
            raise DataError(f"{path}: does not look like a {forced.value} dataset (no cases found)")
    cases = select_split(cases, wanted, path)
    _check_unique(cases, path)
    if not allow_synthetic:
        cases = _without_synthetic(cases, path)
    return sorted(cases, key=lambda c: c.case_id)


def default_split(cases: list[CaseFiles]) -> Split:
    """The inference default: ``ts`` when the dataset has test cases, else ``tr``.

    Synthesis and evaluation are meant for images the model did not learn from; a dataset
    with only ``imagesTr`` (someone else's training data) is still usable as such."""
    return Split.TS if any(c.split is Split.TS for c in cases) else Split.TR


def select_split(cases: list[CaseFiles], split: Split | None, path: Path) -> list[CaseFiles]:
    """The cases of ``split`` (None: :func:`default_split`) when the layout has splits.

    DataError when a case id is in both halves (a leak between training and test data,
    both files named) or when the asked half has no case."""
    if not any(c.split is not None for c in cases):
        return cases
    _check_disjoint(cases, path)
    chosen = split or default_split(cases)
    kept = [c for c in cases if c.split is chosen]
    if not kept:
        raise DataError(f"{path / chosen.folder}: no cases (--split {chosen.value})")
    left = len(cases) - len(kept)
    if left:
        log.info("%s: read %s (%d cases), not the other %d", path, chosen.folder, len(kept), left)
    return kept


def _check_disjoint(cases: list[CaseFiles], path: Path) -> None:
    """DataError naming both files when a case id is in more than one split."""
    first: dict[str, CaseFiles] = {}
    for case in cases:
        other = first.setdefault(case.case_id, case)
        if other.split is not case.split:
            files = [str(next(iter(c.images.values()), "")) for c in (other, case)]
            folders = [c.split.folder if c.split else "?" for c in (other, case)]
            raise DataError(
                f"{path}: case id {case.case_id!r} is in both {folders[0]} and {folders[1]} "
                f"({files[0]}, {files[1]}): training and test data must not share a case"
            )


def _without_synthetic(cases: list[CaseFiles], path: Path) -> list[CaseFiles]:
    kept = []
    for case in cases:
        marked = {m: p for m, p in case.images.items() if synthetic_mark(p) is not None}
        if not marked:
            kept.append(case)
        elif len(marked) < len(case.images):
            images = {m: p for m, p in case.images.items() if m not in marked}
            kept.append(replace(case, images=images, synthetic=marked))
    if cases and not kept:
        raise DataError(
            f"{path}: every image is marked synthetic by mmhvae (a sidecar .json or the "
            "header's descrip); pass --allow-synthetic to use them as inputs anyway"
        )
    return kept


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: not found")


def _nothing_found(path: Path) -> str:
    if path.is_dir() and path.suffix.lower() == ".csv":
        return f"{path}: is a folder, not a CSV manifest file"
    tried = ", ".join(layout.value for layout in _DETECTION_ORDER)
    return f"{path}: no cases found (tried layouts: {tried})"


def _check_unique(cases: list[CaseFiles], path: Path) -> None:
    seen: dict[str, CaseFiles] = {}
    for case in cases:
        if case.case_id in seen:
            first = seen[case.case_id]
            where = [str(c.folder or next(iter(c.images.values()), "")) for c in (first, case)]
            raise DataError(f"{path}: duplicate case id {case.case_id!r} ({where[0]}, {where[1]})")
        seen[case.case_id] = case


class _CaseBuilder:
    """Collects one case's files and refuses a modality (or seg / mask) given twice.

    With ``lenient`` (folder layouts) a bad file is recorded in ``problems`` instead: an
    unknown modality is ignored, a modality given twice is dropped (neither file is used).
    """

    def __init__(self, case_id: str, where: str | Path | None = None) -> None:
        self.case_id = check_case_id(case_id, str(where if where is not None else case_id))
        self.images: dict[str, Path] = {}
        self.seg: Path | None = None
        self.mask: Path | None = None
        self.problems: list[str] = []
        self.dropped: set[str] = set()

    def add_lenient(self, token: str, path: Path) -> None:
        """:meth:`add`, with a problem recorded instead of an error raised."""
        key = token.strip().lower()
        if _is_label_token(key):
            name = "seg" if key in SEG_TOKENS else "mask"
            taken = getattr(self, name)
        else:
            try:
                name = canonical_modality(token)
            except DataError as error:
                self.problems.append(f"{path}: {error}: file ignored")
                return
            taken = self.images.get(name)
        if name in self.dropped or taken is not None:
            if name in ("seg", "mask"):
                setattr(self, name, None)
            else:
                self.images.pop(name, None)
            self.dropped.add(name)
            self.problems.append(
                f"case {self.case_id}: {name} given twice ({taken or 'dropped'}, {path}): "
                "neither file is used"
            )
            return
        self.add(token, path)

    def add(self, token: str, path: Path) -> None:
        key = token.strip().lower()
        if key in SEG_TOKENS or key in MASK_TOKENS:
            kind = "seg" if key in SEG_TOKENS else "mask"
            if getattr(self, kind) is not None:
                raise DataError(
                    f"case {self.case_id}: two {kind} files ({getattr(self, kind)}, {path})"
                )
            setattr(self, kind, path)
            return
        try:
            modality = canonical_modality(token)
        except DataError as error:
            raise DataError(f"{path}: {error}") from None
        if modality in self.images:
            raise DataError(
                f"case {self.case_id}: modality {modality!r} given twice "
                f"({self.images[modality]}, {path})"
            )
        self.images[modality] = path

    def build(
        self, layout: Layout, folder: Path | None = None, lenient: bool = False, **extra: object
    ) -> CaseFiles:
        if not self.images:
            where = folder or self.seg or self.mask or self.case_id
            message = f"case {self.case_id} ({where}): no image modality found"
            if not lenient:
                raise DataError(message)
            self.problems.append(message)
        return CaseFiles(
            self.case_id,
            dict(self.images),
            self.seg,
            self.mask,
            layout,
            folder,
            problems=tuple(self.problems),
            **extra,  # type: ignore[arg-type]
        )


def _is_label_token(token: str) -> bool:
    key = token.lower()
    return key in SEG_TOKENS or key in MASK_TOKENS


def _is_derived(token: str) -> bool:
    """``t2_synth``: a known modality followed by a suffix (our own outputs): ignored."""
    head = re.split(r"[_\-.]", token, maxsplit=1)[0]
    return head != token and (is_modality(head) or _is_label_token(head))


def _folder_case(folder: Path, layout: Layout) -> CaseFiles | None:
    """A case folder whose NIfTI files are ``{folder}{sep}{token}``; None if it is not one."""
    sep = "_" if layout is Layout.BRATS2021 else "-"
    is_2023_name = bool(_BRATS2023_FOLDER.match(folder.name))
    if layout is Layout.BRATS2023 and not is_2023_name:
        return None
    if layout is Layout.REMIND and is_2023_name:
        return None
    prefix = folder.name + sep
    builder = _CaseBuilder(folder.name, folder)
    matched = False
    unknown: list[tuple[str, Path]] = []
    for file in sorted(folder.iterdir()):
        if not is_nifti(file.name):
            continue
        stem = strip_nifti_suffix(file.name)
        if not stem.lower().startswith(prefix.lower()):
            continue
        token = stem[len(prefix) :]
        if _is_derived(token):
            continue
        if not file.is_file():  # a dangling link, or a folder named like a volume
            what = "a dangling link" if file.is_symlink() else "not a file"
            builder.problems.append(f"{file}: {what}: ignored")
            matched = matched or is_modality(token) or _is_label_token(token)
        elif is_modality(token) or _is_label_token(token):
            builder.add_lenient(token, file)
            matched = True
        else:
            unknown.append((token, file))
    if not matched:
        return None
    for token, file in unknown:
        builder.add_lenient(token, file)  # an unknown modality, named, ignored
    return builder.build(layout, folder, lenient=True)


def _discover_folders(layout: Layout) -> Callable[[Path], list[CaseFiles]]:
    def discover(path: Path) -> list[CaseFiles]:
        if not path.is_dir():
            return []
        single = _folder_case(path, layout)
        if single is not None:
            return [single]
        cases = []
        for child in sorted(path.iterdir()):
            if child.is_dir():
                case = _folder_case(child, layout)
                if case is not None:
                    cases.append(case)
        if layout is Layout.REMIND:
            cases.extend(_remind_flat(path))
        return cases

    return discover


_REMIND_FLAT = re.compile(r"^(?P<case>.+?)-(?P<token>[^-]+)$")


def _remind_flat(path: Path) -> list[CaseFiles]:
    """ReMIND files directly in ``path``: ``Case001-t2.nii.gz``, ``Case001-cet1.nii.gz``.

    None when one of them is named ``{case}_{modality}``: ReMIND never is, so the folder is
    the flat layout's (which reads both separators; ReMIND would drop the ``_`` files)."""
    files = [f for f in sorted(path.iterdir()) if f.is_file() and is_nifti(f.name)]
    if any(_underscore_named(f.name) for f in files):
        return []
    builders: dict[str, _CaseBuilder] = {}
    for file in files:
        match = _REMIND_FLAT.match(strip_nifti_suffix(file.name))
        if match is None or _BRATS2023_FOLDER.match(file.name):
            continue
        token = match["token"]
        if not (is_modality(token) or _is_label_token(token)):
            continue
        case_id = match["case"]
        if case_id not in builders:
            builders[case_id] = _CaseBuilder(case_id, file)
        builders[case_id].add(token, file)
    return [b.build(Layout.REMIND) for b in builders.values()]


_NAME_PIECES = re.compile(r"([_-])")  # split keeping the separators


def flat_name(stem: str) -> tuple[str, str] | None:
    """``(case id, token)`` of a flat file's name ``{case}_{token}`` or ``{case}-{token}``.

    The token is the right-most piece, or pair of pieces (``t1_gd``, ``t2-flair``, tried
    first), that names a modality, a segmentation or a brain mask; None when none does
    (``p1_t2_synth``: our own outputs are not inputs)."""
    pieces = _NAME_PIECES.split(stem)  # (2N - 1,) token, sep, token, ...
    for n_tokens in (2, 1):
        cut = len(pieces) - (2 * n_tokens - 1)
        token = "".join(pieces[cut:])
        if cut >= 2 and (is_modality(token) or _is_label_token(token)):
            return "".join(pieces[: cut - 1]), token
    return None


def _underscore_named(name: str) -> bool:
    """Whether ``name`` reads as ``{case}_{token}`` (:func:`flat_name`)."""
    stem = strip_nifti_suffix(name)
    named = flat_name(stem)
    return named is not None and stem[len(named[0])] == "_"


def _discover_flat(path: Path) -> list[CaseFiles]:
    """Several patients' files in ONE folder, ``{case}_{modality}.nii.gz`` (or ``-``)."""
    if not path.is_dir():
        return []
    builders: dict[str, _CaseBuilder] = {}
    for file in sorted(path.iterdir()):
        named = flat_name(strip_nifti_suffix(file.name)) if is_nifti(file.name) else None
        if named is None or not file.is_file():
            continue
        case_id, token = named
        if case_id not in builders:
            builders[case_id] = _CaseBuilder(case_id, file)
        builders[case_id].add_lenient(token, file)
    return [b.build(Layout.FLAT, lenient=True) for b in builders.values()]


def _discover_nnunet(path: Path) -> list[CaseFiles]:
    """nnU-Net raw: ``dataset.json`` channel names, ``imagesTr``/``imagesTs``, ``labelsTr``."""
    if not path.is_dir() or not (path / "dataset.json").is_file():
        return []
    spec_path = path / "dataset.json"
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{spec_path}: unreadable JSON ({error})") from None
    names = spec.get("channel_names") or spec.get("modality")
    if not isinstance(names, dict) or not names:
        raise DataError(f"{spec_path}: no 'channel_names' (or legacy 'modality') mapping")
    channels: dict[int, str] = {}
    for index, name in names.items():
        try:
            channels[int(index)] = canonical_modality(str(name))
        except ValueError:
            raise DataError(f"{spec_path}: channel index {index!r} is not an integer") from None
        except DataError as error:
            raise DataError(f"{spec_path}: {error}") from None
    by_modality = {m: i for i, m in sorted(channels.items())}
    if len(by_modality) != len(channels):
        raise DataError(f"{spec_path}: two channels have the same modality ({names})")
    ending = str(spec.get("file_ending", ".nii.gz"))
    pattern = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})" + re.escape(ending) + "$")
    cases: list[CaseFiles] = []
    for split in Split:
        images_dir, labels_dir = split.folder, split.folder.replace("images", "labels")
        folder = path / images_dir
        if not folder.is_dir():
            continue
        builders: dict[str, _CaseBuilder] = {}
        for file in sorted(folder.iterdir()):
            match = pattern.match(file.name)
            if match is None:
                continue
            index = int(match["index"])
            if index not in channels:
                raise DataError(f"{file}: channel {index:04d} is not in {spec_path}")
            if match["case"] not in builders:
                builders[match["case"]] = _CaseBuilder(match["case"], file)
            builder = builders[match["case"]]
            builder.add(channels[index], file)
        for case_id, builder in builders.items():
            label = path / labels_dir / f"{case_id}{ending}"
            builder.seg = label if label.is_file() else None
            cases.append(builder.build(Layout.NNUNET, channels=dict(by_modality), split=split))
    return cases


def _discover_csv(path: Path) -> list[CaseFiles]:
    """CSV manifest: ``case,modality,path,kind[,note]``; relative paths from its folder."""
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return []
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = {f.strip().lower() for f in reader.fieldnames or []}
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: unreadable CSV ({error})") from None
    missing = {"case", "modality", "path"} - fields
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    builders: dict[str, _CaseBuilder] = {}
    for line, raw in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        case_id, modality, file = row["case"], row["modality"], row["path"]
        if not case_id or not modality or not file:
            raise DataError(f"{path}, line {line}: empty case, modality or path")
        kind = row.get("kind", "").lower() or ("image" if is_modality(modality) else modality)
        if kind not in ("image", "seg", "mask"):
            raise DataError(f"{path}, line {line}: kind {kind!r} (expected image, seg or mask)")
        resolved = Path(file) if Path(file).is_absolute() else path.parent / file
        token = modality if kind == "image" else kind
        if case_id not in builders:
            builders[case_id] = _CaseBuilder(case_id, f"{path}, line {line}")
        try:
            builders[case_id].add(token, resolved)
        except DataError as error:
            raise DataError(f"{path}, line {line}: {error}") from None
    return [b.build(Layout.CSV) for b in builders.values()]


_DISCOVER: dict[Layout, Callable[[Path], list[CaseFiles]]] = {
    Layout.CSV: _discover_csv,
    Layout.NNUNET: _discover_nnunet,
    Layout.BRATS2023: _discover_folders(Layout.BRATS2023),
    Layout.BRATS2021: _discover_folders(Layout.BRATS2021),
    Layout.REMIND: _discover_folders(Layout.REMIND),
    Layout.FLAT: _discover_flat,
}
# flat last: a ReMIND folder's Case001-t2.nii.gz stays ReMIND (its cet1 spelling for outputs)
_DETECTION_ORDER = (
    Layout.CSV,
    Layout.NNUNET,
    Layout.BRATS2023,
    Layout.BRATS2021,
    Layout.REMIND,
    Layout.FLAT,
)
