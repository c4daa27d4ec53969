"""Training augmentation of one slice: geometry shared by all modalities and the mask,
intensity (gamma, bias field) drawn per modality, applied to the targets too or only to what
the encoders read (``AugmentConfig.intensity_on_targets``). Deterministic for a given
generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmhvae.config import AugmentConfig


def _uniform(low: float, high: float, generator: torch.Generator, n: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def affine_theta(angle_rad: float, zoom: float, flip: bool) -> torch.Tensor:
    """``(1, 2, 3)`` sampling matrix for ``affine_grid``: output coordinates -> input ones.

    Rotation by ``angle`` and zoom ``s`` (s > 1 magnifies): ``R(angle) / s``; a flip mirrors
    the W axis (patient left-right in the working orientation).
    """
    cos, sin = math.cos(angle_rad) / zoom, math.sin(angle_rad) / zoom
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]])
    if flip:
        theta[:, 0] = -theta[:, 0]  # x_in = -x_out before rotation
    return theta[None]


def bias_field(
    shape: tuple[int, int], amplitude: float, generator: torch.Generator, coarse: int = 4
) -> torch.Tensor:
    """``(H, W)`` smooth multiplicative field ``exp(a * u)``, ``u`` a bicubic upsampling of a
    ``coarse`` x ``coarse`` grid of U(-1, 1) values."""
    grid = 2 * torch.rand(1, 1, coarse, coarse, generator=generator) - 1
    smooth = F.interpolate(grid, size=shape, mode="bicubic", align_corners=True)
    return torch.exp(amplitude * smooth[0, 0])


def augment_slice(
    images: torch.Tensor,
    present: torch.Tensor,
    mask: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    centre: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``images (M, C, H, W)`` in [-1, 1] (background -1), ``mask (1, H, W)`` bool ->
    ``(inputs, targets, mask)``: the same geometry for all three; the intensity changes in
    ``inputs`` and, with ``config.intensity_on_targets``, in ``targets`` too (then the same
    tensor). Absent modalities and the background stay -1.

    C > 1 holds a slice and its neighbours (``model.context``): a modality's channels share
    its gamma and bias field (one acquisition), and ``mask`` is the slice's at
    ``centre``: the neighbours keep their own background (-1 where their images are)."""
    _, channels, h, w = images.shape
    clean = (images.float() + 1) / 2  # (M, C, H, W) in [0, 1]
    x = clean if config.intensity_on_targets else clean.clone()  # clean is read again if apart
    for m in range(images.shape[0]):
        gamma = math.exp(float(_uniform(-config.gamma, config.gamma, generator)))
        field = bias_field((h, w), config.bias_field, generator)
        x[m] = (x[m].clamp(0, 1) ** gamma * field).clamp(0, 1)
    flip = bool(torch.rand(1, generator=generator) < config.flip_prob)
    angle = math.radians(float(_uniform(-config.rotate_deg, config.rotate_deg, generator)))
    zoom = float(_uniform(1 - config.scale, 1 + config.scale, generator))
    theta = affine_theta(angle, zoom, flip)
    grid = F.affine_grid(theta, [1, 1, h, w], align_corners=False)  # (1, H, W, 2)
    new_mask = F.grid_sample(mask.float()[None], grid, mode="nearest", align_corners=False)
    new_mask = new_mask[0] > 0.5  # (1, H, W)

    keep = torch.zeros(channels, 1, 1, dtype=torch.bool)
    keep[centre] = True  # where the warped mask applies; elsewhere the image's own zeros

    def warp(v: torch.Tensor) -> torch.Tensor:
        # modalities as channels of one image: one sampling for all of them
        warped = F.grid_sample(v.reshape(1, -1, h, w), grid, mode="bilinear", align_corners=False)
        v = warped.reshape(images.shape)  # (M, C, H, W), background 0
        v = torch.where(keep, v * new_mask, v)
        return torch.where(present.view(-1, 1, 1, 1), 2 * v - 1, torch.full_like(v, -1.0))

    inputs = warp(x)
    targets = inputs if config.intensity_on_targets else warp(clean)
    return inputs, targets, new_mask
