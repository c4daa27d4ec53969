"""A synthetic multi-modal dataset in the BraTS 2021 layout.

``OUT/Phantom_00000/Phantom_00000_{t1,t1ce,t2,flair,us,seg}.nii.gz`` per case, the manifest
``OUT/cases.csv`` (``case,modality,path,kind,note``; dropped modalities have neither a row nor
a file), ``OUT/phantom.json`` (every generation parameter) and ``OUT/README.md``.

Case i draws from its own seed sequence (``SeedSequence(seed).spawn``), with one child per
step (anatomy, tumour, missingness, each modality), so a case does not depend on how many
cases are made nor on which of its modalities are dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from mmhvae import output_folder
from mmhvae.data.modalities import parse_modalities
from mmhvae.data.nifti import save_volume
from mmhvae.errors import ConfigError
from mmhvae.files import write_text_atomic
from mmhvae.phantom.anatomy import (
    Anatomy,
    FloatArray,
    Size,
    load_templates,
    output_grid,
    pull_back,
    random_deformation,
    warp_anatomy,
)
from mmhvae.phantom.mri import RELAXATION, SEQUENCES, mr_image
from mmhvae.phantom.tumour import (
    ENHANCING,
    NECROSIS,
    OEDEMA,
    Tumour,
    label_fractions,
    mass_effect,
    random_tumour,
    tumour_labels,
)
from mmhvae.phantom.ultrasound import ACOUSTIC, Probe, place_probe, simulate_ultrasound

PHANTOM_MODALITIES = ("t1", "t1ce", "t2", "flair", "us")
OWN_FILES = ("cases.csv", "phantom.json", "README.md")
_CASE_GLOB = "Phantom_[0-9][0-9][0-9][0-9][0-9]"
CASE_FILE_PATTERNS = (f"{_CASE_GLOB}/{_CASE_GLOB}_*.nii.gz",)
OWN_PATTERNS = (*OWN_FILES, *CASE_FILE_PATTERNS)
MANIFEST_COLUMNS = ("case", "modality", "path", "kind", "note")
_STEPS = ("anatomy", "tumour", "missing", "field") + PHANTOM_MODALITIES


@dataclass
class PhantomCase:
    """One generated case: present images (modality -> ``(X, Y, Z)``), labels, geometry."""

    case_id: str
    images: dict[str, NDArray[np.generic]]
    seg: NDArray[np.uint8]
    affine: NDArray[np.float64]
    fractions: dict[str, FloatArray]
    tumour: Tumour
    probe: Probe | None
    field_t: float


def case_id(index: int) -> str:
    return f"Phantom_{index:05d}"


def choose_present(
    modalities: Sequence[str], missing_rate: float, rng: np.random.Generator
) -> tuple[str, ...]:
    """Drop each modality independently with probability ``missing_rate``; if all would be
    dropped, one drawn uniformly is kept."""
    keep = rng.random(len(modalities)) >= missing_rate
    if not keep.any():
        keep[rng.integers(len(modalities))] = True
    return tuple(m for m, k in zip(modalities, keep, strict=True) if k)


def case_fractions(
    template: Anatomy, tumour_rng: np.random.Generator, anatomy_rng: np.random.Generator
) -> tuple[dict[str, FloatArray], NDArray[np.uint8], Anatomy, Tumour]:
    """Deformed healthy anatomy with a tumour: tissue fractions (sum <= 1), labels, geometry."""
    deformation = random_deformation(template, anatomy_rng)
    tumour = random_tumour(template, deformation, tumour_rng)
    points = output_grid(template.shape)  # (3, X, Y, Z)
    pushed = mass_effect(points, tumour.centre, tumour.push, scale=1.2 * float(tumour.radii.mean()))
    anatomy = warp_anatomy(template, pull_back(deformation, pushed))
    labels = tumour_labels(tumour, anatomy, tumour_rng)
    lesion = label_fractions(labels)
    lesion = {k: v * anatomy.brain for k, v in lesion.items()}
    healthy = np.clip(1.0 - sum(lesion.values()), 0.0, 1.0)
    fractions = {
        "gm": anatomy.gm * healthy,
        "wm": anatomy.wm * healthy,
        "csf": anatomy.csf * healthy,
        "necrosis": lesion[NECROSIS],
        "enhancing": lesion[ENHANCING],
        "oedema": lesion[OEDEMA],
    }
    return fractions, labels, anatomy, tumour


def make_case(
    index: int,
    template: Anatomy,
    modalities: Sequence[str],
    missing_rate: float,
    seed: int,
) -> PhantomCase:
    """Generate case ``index`` of the dataset drawn with ``seed`` (only present modalities)."""
    children = np.random.SeedSequence([seed, index]).spawn(len(_STEPS))
    rngs = {
        step: np.random.default_rng(child) for step, child in zip(_STEPS, children, strict=True)
    }
    present = choose_present(modalities, missing_rate, rngs["missing"])
    fractions, labels, anatomy, tumour = case_fractions(template, rngs["tumour"], rngs["anatomy"])
    brain = anatomy.brain > 0.5
    field_t = float(rngs["field"].choice([1.5, 3.0]))
    images: dict[str, NDArray[np.generic]] = {}
    probe = None
    for modality in present:
        rng = rngs[modality]
        if modality == "us":
            probe = place_probe(brain, tumour.centre, template.spacing, rng)
            volume = simulate_ultrasound(fractions, probe, template.spacing, rng)
            images[modality] = np.round(volume).astype(np.uint8)
        else:
            level = rng.uniform(300.0, 1500.0)
            snr = rng.uniform(20.0, 40.0)
            volume = mr_image(fractions, brain, modality, rng, field_t, snr, level)
            images[modality] = np.round(np.clip(volume, 0, 32767)).astype(np.int16)
    return PhantomCase(
        case_id=case_id(index),
        images=images,
        seg=labels,
        affine=template.affine,
        fractions=fractions,
        tumour=tumour,
        probe=probe,
        field_t=field_t,
    )


def make_phantom_dataset(
    out: str | Path,
    n_cases: int,
    modalities: Sequence[str] = PHANTOM_MODALITIES,
    missing_rate: float = 0.3,
    size: str = "2mm",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``n_cases`` phantom cases to ``out`` (BraTS 2021 layout); returns the manifest.

    Raises OutputExistsError when ``out`` is a non-empty folder and ``overwrite`` is false
    (with ``overwrite``, earlier ``Phantom_*`` folders and the manifest are replaced; other
    files are left alone) and ConfigError for invalid options.
    """
    out = Path(out)
    modalities = _check_options(n_cases, modalities, missing_rate, size)
    _prepare_output(out, overwrite)
    template = load_templates(Size(size))
    rows: list[dict[str, str]] = []
    cases: list[dict[str, object]] = []
    for index in tqdm(range(n_cases), desc="phantom", unit="case", disable=not progress):
        case = make_case(index, template, modalities, missing_rate, seed)
        rows.extend(write_case(case, out))
        cases.append(_case_record(case))
    manifest = out / "cases.csv"
    write_text_atomic(manifest, _manifest_text(rows))
    params = {
        "n_cases": n_cases,
        "modalities": list(modalities),
        "missing_rate": missing_rate,
        "size": size,
        "seed": seed,
        "sequences": {c.value: asdict(s) for c, s in SEQUENCES.items()},
        "relaxation_ms": {
            str(f): {t: asdict(r) for t, r in table.items()} for f, table in RELAXATION.items()
        },
        "acoustic": {t: asdict(a) for t, a in ACOUSTIC.items()},
        "labels": {"1": "necrotic core", "2": "oedema", "4": "enhancing tumour"},
        "cases": cases,
    }
    write_text_atomic(out / "phantom.json", json.dumps(params, indent=1) + "\n")
    write_text_atomic(out / "README.md", _readme(n_cases, modalities, missing_rate, size, seed))
    return manifest


def write_case(case: PhantomCase, out: Path) -> list[dict[str, str]]:
    """Write one case's NIfTI files (atomically); returns its manifest rows."""
    folder = out / case.case_id
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for modality, volume in case.images.items():
        name = f"{case.case_id}_{modality}.nii.gz"
        save_volume(folder / name, volume, case.affine, dtype=volume.dtype, overwrite=True)
        note = "synthetic iUS" if modality == "us" else f"synthetic MR, {case.field_t:g} T"
        rows.append(_row(case.case_id, modality, f"{case.case_id}/{name}", "image", note))
    name = f"{case.case_id}_seg.nii.gz"
    save_volume(folder / name, case.seg, case.affine, dtype=np.uint8, overwrite=True)
    rows.append(_row(case.case_id, "seg", f"{case.case_id}/{name}", "seg", "BraTS labels 1/2/4"))
    return rows


def _row(case: str, modality: str, path: str, kind: str, note: str) -> dict[str, str]:
    return {"case": case, "modality": modality, "path": path, "kind": kind, "note": note}


def _check_options(
    n_cases: int, modalities: Sequence[str], missing_rate: float, size: str
) -> tuple[str, ...]:
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise ConfigError(f"--cases {n_cases!r}: expected a positive integer")
    if not 0.0 <= missing_rate < 1.0:
        raise ConfigError(f"--missing-rate {missing_rate!r}: expected a number in [0, 1)")
    if size not in {s.value for s in Size}:
        raise ConfigError(f"--size {size!r}: expected 1mm or 2mm")
    names = parse_modalities(modalities)
    unknown = [m for m in names if m not in PHANTOM_MODALITIES]
    if unknown:
        raise ConfigError(
            f"--modalities: the phantom cannot make {unknown[0]!r} "
            f"(it makes {', '.join(PHANTOM_MODALITIES)})"
        )
    return names


def _prepare_output(out: Path, overwrite: bool) -> None:
    # Only what an earlier phantom wrote is removed: a stale case folder would keep
    # modalities that this run drops. In a folder without the marker only case files count
    # as ours: a README.md or cases.csv there is the user's.
    output_folder.claim(out, "phantom", OWN_PATTERNS, overwrite, unmarked=CASE_FILE_PATTERNS)


def _manifest_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _case_record(case: PhantomCase) -> dict[str, object]:
    record: dict[str, object] = {
        "case": case.case_id,
        "present": list(case.images),
        "field_t": case.field_t,
        "tumour_centre_voxel": [round(float(v), 2) for v in case.tumour.centre],
        "tumour_radii_voxel": [round(float(v), 2) for v in case.tumour.radii],
    }
    if case.probe is not None:
        record["probe_apex_voxel"] = [round(float(v), 2) for v in case.probe.apex]
        record["probe_axis"] = [round(float(v), 4) for v in case.probe.axis]
        record["probe_depth_mm"] = round(case.probe.depth_mm, 2)
    return record


def _readme(
    n_cases: int, modalities: Sequence[str], missing_rate: float, size: str, seed: int
) -> str:
    return (
        "# MMHVAE phantom dataset\n\n"
        f"{n_cases} synthetic brains with tumours (`mmhvae phantom`, seed {seed}, {size} MNI152 "
        f"grid), modalities {', '.join(modalities)}, each dropped with probability "
        f"{missing_rate:g} (at least one kept).\n\n"
        "Layout: BraTS 2021 (`Phantom_00000/Phantom_00000_t1.nii.gz`, ..., `_seg`); "
        "`cases.csv` lists the files that exist. Labels: 1 necrotic core, 2 oedema, "
        "4 enhancing tumour. MR from signal equations with literature relaxation times "
        "(T1: spoiled gradient echo, T1ce: the same with gadolinium-shortened T1, T2: spin "
        "echo, FLAIR: inversion recovery nulling CSF), bias field and Rician noise; `us`: "
        "simulated intra-operative ultrasound from a probe on the cortex over the tumour, "
        "stored as log-compressed B-mode (1-255 inside the fan, 0 outside; speckle, bright "
        "membranes, reflections, attenuation with time-gain, shadowing). All parameters are "
        "in `phantom.json`.\n"
    )


__all__ = ["make_phantom_dataset", "make_case", "choose_present", "PHANTOM_MODALITIES"]
