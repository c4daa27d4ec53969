"""Prepared cases -> training slices; a disk cache so NIfTI is read and prepared once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate
from tqdm import tqdm

from mmhvae.config import AugmentConfig
from mmhvae.data.augment import augment_slice
from mmhvae.data.case import load_case
from mmhvae.data.layouts import CaseFiles, Layout, Split, discover_cases
from mmhvae.data.modalities import canonical_modality, sort_modalities
from mmhvae.data.preprocess import GridInfo, Prepared, prepare_case
from mmhvae.data.standardise import stored_in_eight_bits
from mmhvae.errors import DataError
from mmhvae.files import atomic_path

CACHE_VERSION = 2


class SliceDataset(Dataset):
    """Axial slices with enough brain; one item is a dict:

    ``images (M, 1, H, W)`` float32 in [-1, 1] (``2x - 1``; background and absent
    modalities -1), ``present (M,)`` bool, ``mask (1, H, W)`` bool, ``case_id``, ``slice_index``;
    with intensity augmentation of the inputs only (``intensity_on_targets=False``) also
    ``inputs (M, 1, H, W)``: what the encoders read, ``images`` being what they reconstruct.
    With ``context`` k > 0 (``model.context``) there is always ``inputs (M, 2k + 1, H, W)``:
    slices s - k .. s + k (clipped to the volume), ``images`` being slice s.
    """

    def __init__(
        self,
        cases: Sequence[Prepared],
        min_brain_fraction: float = 0.05,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        context: int = 0,
    ) -> None:
        self.cases = list(cases)
        self.context = int(context)
        if len({c.modalities for c in self.cases}) > 1:
            raise DataError("SliceDataset: cases were prepared for different modality lists")
        self.augment = augment if augment is not None and augment.enabled else None
        self.seed = int(seed)
        self.epoch = 0
        self.index: list[tuple[int, int]] = []
        for c, case in enumerate(self.cases):
            _, h, w = case.mask.shape
            brain = case.mask.reshape(case.mask.shape[0], -1).sum(axis=1)  # (S,)
            keep = np.flatnonzero(brain >= min_brain_fraction * h * w)
            self.index.extend((c, int(s)) for s in keep)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations differ between epochs, and repeat for the same (seed, epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict[str, Any]:
        c, s = self.index[item]
        case = self.cases[c]
        present = torch.from_numpy(case.present.copy())
        mask = torch.from_numpy(case.mask[s].copy())[None]  # (1, H, W)
        k = self.context
        slices = context_slices(s, k, case.images.shape[1])  # (2k + 1,)
        images = torch.from_numpy(case.images[:, slices].copy()) * 2 - 1  # (M, 2k + 1, H, W)
        images[~present] = -1.0
        extra: dict[str, Any] = {}
        if self.augment is not None:
            generator = torch.Generator().manual_seed(
                (self.seed * 1_000_003 + self.epoch) * 10_000_019 + item
            )
            inputs, images, mask = augment_slice(
                images, present, mask, self.augment, generator, centre=k
            )
            if k or not self.augment.intensity_on_targets:
                extra["inputs"] = inputs
        elif k:
            extra["inputs"] = images
        images = images[:, k : k + 1]  # (M, 1, H, W): the slice s
        return {
            **extra,
            "images": images,
            "present": present,
            "mask": mask,
            "case_id": case.case_id,
            "slice_index": s,
        }


def context_slices(s: int, context: int, n_slices: int) -> np.ndarray:
    """Slice s and ``context`` neighbours on each side, s - k .. s + k, clipped to
    [0, n_slices - 1] (the edge slice repeats where the volume ends)."""
    return np.clip(np.arange(s - context, s + context + 1), 0, n_slices - 1)


def collate_slices(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items: tensors gain a batch axis, ``case_id`` becomes a list of str."""
    return default_collate(batch)


class CaseCache:
    """``Prepared`` cases on disk (``{key}.npz`` + ``{key}.json``), keyed by a hash of the
    input files (path, size, mtime) and the preprocessing parameters."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def key(
        self,
        files: CaseFiles,
        modalities: Sequence[str],
        image_size: int,
        spacing: float,
        resample: bool,
    ) -> str:
        paths = [*files.images.values(), files.seg, files.mask]
        stats: list[list[object] | None] = []
        for path in paths:
            if path is None:
                stats.append(None)
                continue
            try:
                st = Path(path).stat()
            except OSError:
                raise DataError(f"{path}: file not found") from None
            stats.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns])
        spec = {
            "version": CACHE_VERSION,
            "case": files.case_id,
            "images": sorted(files.images),
            "files": stats,
            "modalities": list(modalities),
            "image_size": int(image_size),
            "spacing": float(spacing),
            "resample": bool(resample),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def get_or_prepare(
        self,
        files: CaseFiles,
        modalities: Sequence[str],
        image_size: int,
        spacing: float = 0.0,
        resample: bool = True,
    ) -> Prepared:
        modalities = tuple(canonical_modality(m) for m in modalities)
        key = self.key(files, modalities, image_size, spacing, resample)
        cached = self._read(key)
        if cached is not None:
            return cached
        case = load_case(files, modalities, resample=resample)
        prepared = prepare_case(case, modalities, image_size, spacing)
        self._write(key, prepared)
        return prepared

    def _read(self, key: str) -> Prepared | None:
        meta_path, arrays_path = self.folder / f"{key}.json", self.folder / f"{key}.npz"
        if not (meta_path.is_file() and arrays_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(arrays_path) as arrays:
                data = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, KeyError, EOFError):
            return None  # a damaged entry is rebuilt
        grid = GridInfo(
            shape=tuple(meta["shape"]),
            affine=data["affine"],
            header_bytes=data["header"].tobytes(),
            ornt=data["ornt"],
            inplane_shape=tuple(meta["inplane_shape"]),
            native_inplane_shape=tuple(meta["native_inplane_shape"]),
            crop_start=tuple(meta["crop_start"]),
            image_size=int(meta["image_size"]),
            spacing=float(meta["spacing"]),
        )
        mask = data["mask"]
        images = np.zeros((len(meta["modalities"]), *mask.shape), np.float32)  # (M, S, H, W)
        images[:, mask] = data["brain"]
        return Prepared(
            case_id=meta["case_id"],
            modalities=tuple(meta["modalities"]),
            images=images,
            present=data["present"],
            mask=data["mask"],
            seg=data.get("seg"),
            grid=grid,
            warnings=list(meta["warnings"]),
        )

    def _write(self, key: str, prepared: Prepared) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        grid = prepared.grid
        # Images are zero outside the mask: only the brain voxels are stored, (M, N).
        arrays: dict[str, Any] = {
            "brain": prepared.images[:, prepared.mask],
            "present": prepared.present,
            "mask": prepared.mask,
            "affine": grid.affine,
            "ornt": grid.ornt,
            "header": np.frombuffer(grid.header_bytes, dtype=np.uint8),
        }
        if prepared.seg is not None:
            arrays["seg"] = prepared.seg
        meta = {
            "case_id": prepared.case_id,
            "modalities": list(prepared.modalities),
            "shape": list(grid.shape),
            "inplane_shape": list(grid.inplane_shape),
            "native_inplane_shape": list(grid.native_inplane_shape),
            "crop_start": list(grid.crop_start),
            "image_size": grid.image_size,
            "spacing": grid.spacing,
            "warnings": prepared.warnings,
        }
        # Arrays first, JSON last: a JSON file means its arrays are complete.
        _atomic_write(self.folder / f"{key}.npz", lambda f: np.savez(f, **arrays))
        _atomic_write(self.folder / f"{key}.json", lambda f: f.write(json.dumps(meta).encode()))


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)


def load_prepared_dataset(
    path: str | Path,
    modalities: Sequence[str] | None = None,
    image_size: int = 192,
    spacing: float = 0.0,
    cache_dir: str | Path | None = None,
    layout: Layout | str | None = None,
    resample: bool = True,
    progress: bool = True,
    split: Split | str | None = Split.TR,
) -> tuple[list[Prepared], list[str]]:
    """Discover, load and prepare every case of DATA; returns the cases and the warnings.

    ``modalities`` defaults to every modality found in the data, in canonical order.
    ``split`` defaults to the training half (nnU-Net ``imagesTr``): this loads training data.
    """
    files = discover_cases(path, layout, split=split)
    if modalities:
        names = tuple(canonical_modality(m) for m in modalities)
    else:
        names = sort_modalities(m for f in files for m in f.images)
    cache = CaseCache(cache_dir) if cache_dir else None
    prepared: list[Prepared] = []
    warnings: list[str] = []
    for case_files in tqdm(files, desc="preparing cases", unit="case", disable=not progress):
        if not any(m in case_files.images for m in names):
            warnings.append(f"{case_files.case_id}: none of {', '.join(names)}: skipped")
            continue
        if cache is not None:
            item = cache.get_or_prepare(case_files, names, image_size, spacing, resample)
        else:
            case = load_case(case_files, names, resample=resample)
            item = prepare_case(case, names, image_size, spacing)
        warnings.extend(item.warnings)
        eight_bit = tuple(
            m
            for m in names
            if m in case_files.images and stored_in_eight_bits(case_files.images[m])
        )
        prepared.append(replace(item, eight_bit=eight_bit) if eight_bit else item)
    if not prepared:
        raise DataError(f"{path}: no case has any of the modalities {', '.join(names)}")
    return prepared, warnings


def split_cases(
    prepared: Sequence[Prepared], val_cases: int, seed: int = 0
) -> tuple[list[Prepared], list[Prepared]]:
    """Hold out ``val_cases`` whole cases (at least one case stays for training)."""
    n_val = max(0, min(int(val_cases), len(prepared) - 1))
    order = np.random.default_rng(seed).permutation(len(prepared))
    val_index = set(order[:n_val].tolist())
    train = [p for i, p in enumerate(prepared) if i not in val_index]
    val = [p for i, p in enumerate(prepared) if i in val_index]
    return train, val
