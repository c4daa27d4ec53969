"""Grids of samples during training: what the model makes of a few validation slices.

The slices shown are the validation slices with the most brain (:func:`grid_rows`), i.e.
mid-brain, not the skull base. One row per (slice, input subset): the subset of all its
present modalities, then each present modality alone. Columns: the inputs ("n/a" where not
given), then every decoded modality, with a colour bar. The model's slices are laid out as
data/preprocess.py makes them (rows anterior -> posterior, columns patient right -> left:
the radiological view), and marked R / L / A / P. The same image goes to ``RUN/images/``
and to TensorBoard (training/logs.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from mmhvae.figures import Column, figure_rgb, montage_figure
from mmhvae.methods.base import Method, inputs_of, synthesize_batched
from mmhvae.methods.sampling import SamplingOptions, seeded


def to_unit(image: Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) float32 in [0, 1] (first channel)."""
    return ((image[0].float().clamp(-1, 1) + 1) / 2).cpu().numpy()


def row_subsets(present: Tensor) -> list[Tensor]:
    """present (M,) bool -> subsets (M,) bool: all present, then each present one alone."""
    subsets = [present.clone()]
    if int(present.sum()) > 1:
        for m in torch.nonzero(present).flatten().tolist():
            alone = torch.zeros_like(present)
            alone[m] = True
            subsets.append(alone)
    return subsets


def grid_rows(batch: dict[str, Any], count: int) -> tuple[dict[str, Tensor], list[str]]:
    """The ``count`` slices of ``batch`` (images (V, M, C, H, W), present, mask (V, 1, H, W),
    names) with the largest brain area, in their batch order, and their names.

    Validation slices are spread evenly over the held-out cases, so the first ones are the
    lowest (skull-base slivers); the largest brain cross-sections are mid-brain."""
    area = batch["mask"].flatten(1).sum(1)  # (V,)
    count = min(count, int(area.shape[0]))
    # stable: among equal areas the earlier slice wins
    order = sorted(range(int(area.shape[0])), key=lambda v: (-int(area[v]), v))
    chosen = sorted(order[:count])
    index = torch.tensor(chosen, dtype=torch.long, device=area.device)
    rows = {k: v.index_select(0, index) for k, v in batch.items() if isinstance(v, Tensor)}
    return rows, [batch["names"][v] for v in chosen]


@torch.no_grad()
def sample_grid(
    method: Method,
    batch: dict[str, Tensor],
    names: list[str],
    options: SamplingOptions,
) -> Image.Image:
    """Grid for the slices of ``batch`` (images (V, M, C, H, W), present (V, M), mask (V, 1, H, W)).

    ``names`` labels the V slices. Sampling uses ``options`` under a forked RNG seeded with
    ``options.seed``.
    """
    images, present, mask = batch["images"], batch["present"].bool(), batch["mask"].bool()
    source = inputs_of(batch)  # with model.context: the slices and their neighbours
    modalities = method.modalities
    labels: list[str] = []
    inputs: list[list[np.ndarray | None]] = [[] for _ in modalities]  # per modality, per row
    outputs: list[list[np.ndarray | None]] = [[] for _ in modalities]
    with seeded(options.seed, images.device):
        for v, name in enumerate(names):
            subsets = torch.stack(row_subsets(present[v]))  # (R, M)
            count = subsets.shape[0]
            out = synthesize_batched(
                method,
                source[v : v + 1].expand(count, *source.shape[1:]),
                subsets,
                mask[v : v + 1].expand(count, *mask.shape[1:]),
                options,
            ).mean  # (R, M, C, H, W)
            for r in range(count):
                given = subsets[r].tolist()
                shown = "+".join(m for m, on in zip(modalities, given, strict=True) if on)
                labels.append(f"{name}\nfrom {shown}")
                for m in range(len(modalities)):
                    inputs[m].append(to_unit(images[v, m]) if given[m] else None)
                    outputs[m].append(to_unit(out[r, m]))
    columns = [Column(f"in {name}", inputs[m]) for m, name in enumerate(modalities)]
    columns += [Column(f"out {name}", outputs[m]) for m, name in enumerate(modalities)]
    figure = montage_figure(columns, labels, tile_inches=1.7)
    return Image.fromarray(figure_rgb(figure), "RGB")
