"""PNG grids of samples during training: what the model makes of a few validation slices.

One row per (slice, input subset): the subset of all its present modalities, then each
present modality alone. Columns: the inputs (blank where not given), then every decoded
modality. A header names the columns; each row is labelled with its case, slice and inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from mmhvae.methods.base import Method, synthesize_batched
from mmhvae.methods.sampling import SamplingOptions, seeded

HEADER = 14  # pixels of the label band above the grid
LABEL = 14  # pixels of the label band above each row


def to_uint8(image: Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) uint8 (first channel)."""
    grey = ((image[0].float().clamp(-1, 1) + 1) * 127.5).round()
    return grey.to(torch.uint8).cpu().numpy()


def row_subsets(present: Tensor) -> list[Tensor]:
    """present (M,) bool -> subsets (M,) bool: all present, then each present one alone."""
    subsets = [present.clone()]
    if int(present.sum()) > 1:
        for m in torch.nonzero(present).flatten().tolist():
            alone = torch.zeros_like(present)
            alone[m] = True
            subsets.append(alone)
    return subsets


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
    modalities = method.modalities
    n_mod = len(modalities)
    side_h, side_w = images.shape[-2], images.shape[-1]
    rows: list[tuple[str, Tensor, Tensor]] = []  # label, inputs (M, C, H, W), outputs
    with seeded(options.seed, images.device):
        for v, name in enumerate(names):
            subsets = torch.stack(row_subsets(present[v]))  # (R, M)
            count = subsets.shape[0]
            out = synthesize_batched(
                method,
                images[v : v + 1].expand(count, *images.shape[1:]),
                subsets,
                mask[v : v + 1].expand(count, *mask.shape[1:]),
                options,
            ).mean  # (R, M, C, H, W)
            for r in range(count):
                given = "+".join(
                    m for m, on in zip(modalities, subsets[r].tolist(), strict=True) if on
                )
                inputs = torch.where(subsets[r].view(n_mod, 1, 1, 1), images[v], -1.0)
                rows.append((f"{name} from {given}", inputs, out[r]))
    canvas = Image.new("L", (2 * n_mod * side_w, HEADER + len(rows) * (LABEL + side_h)), 0)
    draw = ImageDraw.Draw(canvas)
    for m, name in enumerate(modalities):
        draw.text((m * side_w + 2, 1), f"in {name}", fill=255)
        draw.text(((n_mod + m) * side_w + 2, 1), f"out {name}", fill=255)
    for r, (label, inputs, outputs) in enumerate(rows):
        top = HEADER + r * (LABEL + side_h)
        draw.text((2, top + 1), label, fill=200)
        for m in range(n_mod):
            canvas.paste(Image.fromarray(to_uint8(inputs[m])), (m * side_w, top + LABEL))
            canvas.paste(Image.fromarray(to_uint8(outputs[m])), ((n_mod + m) * side_w, top + LABEL))
    return canvas
