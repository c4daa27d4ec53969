"""Dataset -> training and validation slices, and the endless, resumable batch stream."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from mmhvae.config import AugmentConfig, Config
from mmhvae.data.dataset import SliceDataset, collate_slices, load_prepared_dataset, split_cases
from mmhvae.data.layouts import Split
from mmhvae.data.standardise import landmarks_by_name, reference_landmarks, standardise_cases
from mmhvae.training.distributed import CaseBalancedSampler, DistInfo


@dataclass
class TrainingData:
    """Slices of the training cases and of the held-out validation cases.

    case_indices[c]: the train dataset's indices of case c's slices (for case-balanced
    sampling); val_rows: the fixed validation slices (indices into ``val``).
    """

    modalities: tuple[str, ...]
    train: SliceDataset
    val: SliceDataset
    case_indices: list[list[int]]
    val_rows: list[int]
    train_cases: list[str]
    val_cases: list[str]
    # modality -> the landmarks 8-bit images were mapped to (data/standardise.py; empty
    # without data.standardise_8bit): the checkpoint keeps them for synthesis
    intensity_landmarks: dict[str, list[float]] = field(default_factory=dict)


def build_training_data(
    config: Config, data: str | Path, cache_dir: Path, progress: bool = True
) -> TrainingData:
    """Load (through the case cache), split by case, and index the slices.

    With a single case there is nothing to hold out: validation uses that case's slices
    (a warning says so; the numbers then measure fitting, not generalisation).
    """
    prepared, messages = load_prepared_dataset(
        data,
        modalities=config.data.modalities or None,
        image_size=config.model.image_size,
        spacing=config.data.spacing,
        cache_dir=cache_dir,
        layout=config.data.layout or None,
        resample=config.data.resample,
        progress=progress,
        split=Split.TR,  # training never reads imagesTs (nnU-Net): those are the test cases
    )
    train_cases, val_cases = split_cases(prepared, config.data.val_cases, config.train.seed)
    landmarks: dict[str, list[float]] = {}
    if config.data.standardise_8bit:
        # the reference landmarks come from the training cases alone; validation's 8-bit
        # images are mapped to them like the training ones
        reference = reference_landmarks(train_cases)
        landmarks = landmarks_by_name(reference, prepared[0].modalities)
        train_cases, mapped = standardise_cases(train_cases, reference)
        val_cases, _ = standardise_cases(val_cases, reference)
        messages = [*messages, *mapped]
    for message in messages:
        warnings.warn(message, stacklevel=2)
    if not val_cases:
        warnings.warn(
            f"{data}: only {len(prepared)} case(s), none held out: validating on training slices",
            stacklevel=2,
        )
        val_cases = list(train_cases)
    fraction = config.data.min_brain_fraction
    context = config.model.context
    train = SliceDataset(
        train_cases, fraction, config.data.augment, seed=config.train.seed, context=context
    )
    val = SliceDataset(
        val_cases, fraction, replace(AugmentConfig(), enabled=False), context=context
    )
    case_indices: list[list[int]] = [[] for _ in train_cases]
    for i, (c, _) in enumerate(train.index):
        case_indices[c].append(i)
    return TrainingData(
        modalities=tuple(prepared[0].modalities),
        train=train,
        val=val,
        case_indices=case_indices,
        val_rows=evenly_spaced(len(val), config.train.val_slices),
        train_cases=[p.case_id for p in train_cases],
        val_cases=[p.case_id for p in val_cases],
        intensity_landmarks=landmarks,
    )


def evenly_spaced(n_items: int, count: int) -> list[int]:
    """``min(count, n_items)`` indices spread evenly over range(n_items), first and last kept."""
    count = min(count, n_items)
    if count <= 1:
        return list(range(count))
    return [round(i * (n_items - 1) / (count - 1)) for i in range(count)]


def stack_rows(dataset: SliceDataset, rows: list[int], device: torch.device) -> dict[str, Any]:
    """The items ``rows`` of ``dataset`` as one batch on ``device`` (plus their ``names``)."""
    batch = collate_slices([dataset[i] for i in rows])
    names = [f"{c} z{int(s)}" for c, s in zip(batch["case_id"], batch["slice_index"], strict=True)]
    keys = ("images", "inputs", "present", "mask")  # inputs: with model.context
    return {k: batch[k].to(device) for k in keys if k in batch} | {"names": names}


class DrawDataset(Dataset):
    """Items keyed by (index, draw): draw number d of the endless stream is augmentation
    "epoch" d, so a slice's augmentation is a pure function of (seed, draw, index) in any
    worker process, and a resumed run sees exactly the slices it would have seen."""

    def __init__(self, dataset: SliceDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, draw = key
        self.dataset.set_epoch(draw)
        return self.dataset[index]


class _Keyed(CaseBalancedSampler):
    """The case-balanced stream with each index paired with its global draw number."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        for offset, index in enumerate(super().__iter__()):
            yield index, self.rank * 2**32 + self.start + offset


def batch_stream(
    data: TrainingData, config: Config, info: DistInfo, batch_size: int, start_step: int
) -> Iterator[dict[str, Any]]:
    """Endless batches of ``batch_size`` for this rank, continuing after ``start_step`` steps.

    Seeded per rank (different slices on each rank); the DataLoader draws its worker seeds
    from its own generator, never from the global RNG that the training step uses.
    """
    sampler = _Keyed(
        data.case_indices,
        seed=config.train.seed,
        rank=info.rank,
        start=start_step * batch_size,
    )
    loader = DataLoader(
        DrawDataset(data.train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=config.train.num_workers,
        collate_fn=collate_slices,
        drop_last=True,
        pin_memory=info.device.type == "cuda",
        persistent_workers=config.train.num_workers > 0,
        generator=torch.Generator().manual_seed(config.train.seed + 7_919 * info.rank),
    )
    return iter(loader)
