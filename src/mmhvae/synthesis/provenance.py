"""Outputs that say what they are: the header's ``descrip`` and a JSON sidecar per file.

``descrip`` (80 bytes at most, ASCII): ``mmhvae synthetic T [std ]from A+B; model RUN SHA8``
so that any viewer's header dump tells a synthetic volume from a scan. The sidecar
``NAME.json`` beside ``NAME.nii.gz`` holds the rest: the model (run folder, checkpoint and
its sha256, method), the inputs with their sha256, temperature, samples, seed, the package
version and the UTC date. data/provenance.py reads both marks back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from mmhvae import __version__
from mmhvae.data.nifti import save_volume
from mmhvae.data.provenance import DESCRIP_PREFIX, sidecar_path
from mmhvae.files import write_text_atomic
from mmhvae.methods.sampling import SamplingOptions

DESCRIP_BYTES = 80  # the NIfTI-1 header field


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelRecord:
    """The model behind an output: its run folder, checkpoint file, checksum and method."""

    run: str
    checkpoint: str
    sha256: str
    method: str

    @classmethod
    def of(cls, checkpoint: str | Path, method: str) -> ModelRecord:
        path = Path(checkpoint).resolve()
        # a run's checkpoints/X.pt belongs to the run; a file of its own (an export, a shipped
        # model such as pretrained/brats-tiny.pt) is its own run, not the folder it lies in
        run = path.parent.parent if path.parent.name == "checkpoints" else path
        return cls(str(run), str(path), sha256_file(path), method)

    @property
    def name(self) -> str:
        return Path(self.run).name


def descrip(target: str, inputs: Sequence[str], model: ModelRecord, std: bool = False) -> bytes:
    """The header's description, cut to 80 bytes (the model's name is shortened first)."""
    head = f"{DESCRIP_PREFIX} {target} {'std ' if std else ''}from {'+'.join(inputs)}; model "
    tail = f" {model.sha256[:8]}"
    room = DESCRIP_BYTES - len(head.encode("ascii", "replace")) - len(tail)
    name = model.name.encode("ascii", "replace")[: max(room, 0)].decode("ascii")
    return (head + name + tail).encode("ascii", "replace")[:DESCRIP_BYTES]


def marked_header(header: nib.Nifti1Header, text: bytes) -> nib.Nifti1Header:
    """A copy of ``header`` whose ``descrip`` is ``text`` (the input's is not kept)."""
    out = header.copy()
    out["descrip"] = text
    return out


def input_records(files: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """modality (or "mask") -> {"path": absolute path, "sha256": checksum of the file}."""
    return {m: {"path": str(Path(p).resolve()), "sha256": sha256_file(p)} for m, p in files.items()}


def sidecar_record(
    target: str,
    kind: str,
    model: ModelRecord,
    inputs: Mapping[str, Mapping[str, str]],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The sidecar of one output (``kind`` "mean" or "std"); ``inputs`` from
    :func:`input_records`; ``settings``: temperature, samples, seed."""
    return {
        "synthetic": True,
        "generator": "mmhvae",
        "version": __version__,
        "modality": target,
        "map": kind,
        "units": "normalised [0, 1] intensities of EVALUATION.md, 0 outside the brain",
        "model": {
            "run": model.run,
            "checkpoint": model.checkpoint,
            "sha256": model.sha256,
            "method": model.method,
        },
        "inputs": {m: dict(r) for m, r in inputs.items()},
        **settings,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_sidecar(nifti: Path, record: Mapping[str, Any], to: Path | None = None) -> Path:
    """``NAME.json`` beside ``NAME.nii.gz`` (or at ``to``), atomically."""
    return write_text_atomic(to or sidecar_path(nifti), json.dumps(record, indent=2) + "\n")


def save_synthetic(
    path: Path,
    volume: np.ndarray,
    affine: np.ndarray,
    header: nib.Nifti1Header,
    target: str,
    kind: str,
    inputs: Sequence[str],
    model: ModelRecord | None,
    records: Mapping[str, Mapping[str, str]],
    sampling: SamplingOptions,
    overwrite: bool,
    sidecar: Path | None = None,
) -> None:
    """Save one output (``kind`` "mean" or "std") marked synthetic: the ``descrip`` inside the
    file, then the sidecar after it (beside it, or at ``sidecar``), so that a run killed in
    between leaves a file still marked by its descrip. ``records`` from
    :func:`input_records`. Without ``model`` the file is saved unmarked. Raises
    OutputExistsError when ``path`` exists (not overwrite).
    """
    if model is not None:
        header = marked_header(header, descrip(target, inputs, model, kind == "std"))
    save_volume(path, volume, affine, header, overwrite=overwrite)
    if model is not None:
        settings = {
            "temperature": sampling.temperature,
            "samples": sampling.samples,
            "seed": sampling.seed,
        }
        write_sidecar(path, sidecar_record(target, kind, model, records, settings), sidecar)
