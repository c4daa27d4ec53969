"""LPIPS (AlexNet trunk, v0.1 linear heads) in plain torch, loaded from a local file only.

Zhang et al. 2018, as the reference ``lpips`` package computes it (LPIPS_GOLDEN.md):
    x' = (x - shift) / scale                       inputs x in [-1, 1], ImageNet layer
    f_l = relu_l(AlexNet(x'))                      5 stages, (N, C_l, H_l, W_l)
    n_l = f_l / (||f_l||_2 over C_l + 1e-10)       unit-normalised over channels
    d(x, y) = sum_l mean_{h,w} w_l . (n_l(x) - n_l(y))^2    w_l: 1x1 head, no bias
The weights are never downloaded at run time: ``mmhvae setup-lpips`` converts them once to
:func:`default_weights_path` (or ``LPIPS_WEIGHTS`` / an explicit path).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from mmhvae.errors import WeightsMissingError

WEIGHTS_ENV = "LPIPS_WEIGHTS"
WEIGHTS_NAME = "lpips_alex_v0.1.safetensors"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
MIN_SIDE = 31  # smaller inputs leave nothing for the second max-pool
# torchvision's alexnet.features: (in, out, kernel, stride, padding) of the 5 convolutions.
ALEX_CONVS = (
    (3, 64, 11, 4, 2),
    (64, 192, 5, 1, 2),
    (192, 384, 3, 1, 1),
    (384, 256, 3, 1, 1),
    (256, 256, 3, 1, 1),
)


def default_weights_path() -> Path:
    """``$XDG_CACHE_HOME/mmhvae/lpips_alex_v0.1.safetensors`` (``~/.cache`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mmhvae" / WEIGHTS_NAME


def resolve_weights_path(path: str | Path | None = None) -> Path:
    """The weights file: ``path`` if given, else ``$LPIPS_WEIGHTS``, else the default."""
    if path is not None:
        return Path(path)
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else default_weights_path()


class LPIPS(nn.Module):
    """LPIPS(alex) v0.1. A bare ``LPIPS()`` is untrained: build it with :meth:`from_file`.

    State dict: ``conv{1..5}.weight/bias`` (OIHW, the AlexNet trunk) and ``heads.{0..4}.weight``
    (1, C_l, 1, 1), the linear heads.
    """

    shift: Tensor
    scale: Tensor

    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout, k, s, p) in enumerate(ALEX_CONVS, start=1):
            self.add_module(f"conv{i}", nn.Conv2d(cin, cout, k, stride=s, padding=p))
        self.heads = nn.ModuleList(nn.Conv2d(c[1], 1, 1, bias=False) for c in ALEX_CONVS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path) -> LPIPS:
        """Load converted weights (safetensors); a missing file raises WeightsMissingError."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise WeightsMissingError(
                f"LPIPS weights not found at {path}: run `mmhvae setup-lpips` once "
                f"(or set {WEIGHTS_ENV} to the converted file)"
            )
        model = cls()
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise WeightsMissingError(
                f"LPIPS weights {path}: unreadable ({error}); run `mmhvae setup-lpips --force`"
            ) from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise WeightsMissingError(
                f"LPIPS weights {path}: not the AlexNet v0.1 layout ({error}); "
                "run `mmhvae setup-lpips --force`"
            ) from None
        return model

    def features(self, x: Tensor) -> list[Tensor]:
        """The five post-ReLU stages of AlexNet for x (N, 3, H, W) in [-1, 1]."""
        h = (x - self.shift) / self.scale
        out = []
        for i in range(1, 6):
            h = F.relu(getattr(self, f"conv{i}")(h))
            out.append(h)
            if i in (1, 2):
                h = F.max_pool2d(h, kernel_size=3, stride=2)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """d(x, y) (N,) for x, y (N, 3, H, W) in [-1, 1], H, W >= 31."""
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"expected two (N, 3, H, W) batches of one shape, got {x.shape}, {y.shape}"
            )
        if min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(
                f"LPIPS(alex) needs images of at least {MIN_SIDE} pixels, got {x.shape}"
            )
        total = x.new_zeros(x.shape[0])
        for head, fx, fy in zip(self.heads, self.features(x), self.features(y), strict=True):
            diff = (unit_normalise(fx) - unit_normalise(fy)) ** 2  # (N, C_l, H_l, W_l)
            total = total + head(diff).mean(dim=(1, 2, 3))
        return total


def unit_normalise(f: Tensor, eps: float = EPS) -> Tensor:
    """f / (||f||_2 over channels + eps), f (N, C, H, W), as ``lpips.normalize_tensor``."""
    return f / (torch.sqrt((f**2).sum(dim=1, keepdim=True)) + eps)


def load_lpips(path: str | Path | None = None, device: str | torch.device = "cpu") -> LPIPS:
    """LPIPS from ``path``, ``$LPIPS_WEIGHTS`` or the default; WeightsMissingError if absent."""
    return LPIPS.from_file(resolve_weights_path(path)).to(device)


def lpips_available(path: str | Path | None = None) -> bool:
    """Whether a weights file exists where :func:`load_lpips` looks (it is not validated)."""
    return resolve_weights_path(path).is_file()


def lpips_distances(
    model: LPIPS, a: ArrayLike, b: ArrayLike, batch_size: int = 16
) -> NDArray[np.float64]:
    """LPIPS (N,) of grey image stacks a, b (N, H, W) in [0, 1]: repeated to 3 channels, 2x - 1."""
    x = np.asarray(a, dtype=np.float32)
    y = np.asarray(b, dtype=np.float32)
    if x.shape != y.shape or x.ndim != 3:
        raise ValueError(f"expected two (N, H, W) stacks of one shape, got {x.shape}, {y.shape}")
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            xb, yb = (
                torch.from_numpy(v[start : start + batch_size])
                .to(device)[:, None]
                .expand(-1, 3, -1, -1)
                * 2
                - 1
                for v in (x, y)
            )  # (n, 3, H, W)
            out.append(model(xb, yb).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def lpips_slices(
    model: LPIPS,
    pred: ArrayLike,
    gt: ArrayLike,
    slices: Sequence[int] | NDArray[np.intp],
    axis: int = -1,
    batch_size: int = 16,
) -> float:
    """Protocol LPIPS of volumes in [0, 1]: mean over the given axial slices (the SSIM slices,
    ``SSIMResult.slices``) of the LPIPS of the whole (uncropped) slices; nan for no slice."""
    p = np.moveaxis(np.asarray(pred, dtype=np.float32), axis, 0)  # (S, X, Y), axial first
    g = np.moveaxis(np.asarray(gt, dtype=np.float32), axis, 0)
    idx = np.asarray(slices, dtype=np.intp)
    if idx.size == 0:
        return float("nan")
    return float(lpips_distances(model, p[idx], g[idx], batch_size).mean())
