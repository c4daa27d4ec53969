"""``regression``: a per-voxel quadratic polynomial of the given modalities, fitted in closed
form. The floor every learned method must clear (issue 12): it sees one voxel at a time,
no neighbourhood and no anatomy, so whatever a network scores above it is what the network
learnt from context.

For an input subset S (ordered indices) the features of a voxel are

    phi_S(x) = [1, x_i (i in S), x_i x_k (i <= k in S)],   F_S = 1 + n + n (n + 1) / 2,

with x the intensities in the model's [-1, 1] range. For every non-empty S and every target
modality t, the coefficients w_St minimise sum (phi_S(x_v) . w - y_tv)^2 over the brain
voxels v of the training slices whose case has S and t (ordinary least squares, with a tiny
ridge for rank-deficient cases). A pair (S, t) never seen together falls back to the mean
of t over the training brains. Synthesis is deterministic.

Shapes: B slices, M modalities, C channels (1), H W space, V voxels, F features, J subsets.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from mmhvae.config import Config
from mmhvae.losses.elbo import ELBOTerms
from mmhvae.methods.base import Method, Objective, Sampler
from mmhvae.methods.subsets import all_subsets, subset_mask

RIDGE = 1e-6  # relative to the mean diagonal of the normal equations


def feature_count(n: int) -> int:
    """F_S for |S| = n: the constant, n linear and n (n + 1) / 2 quadratic terms."""
    return 1 + n + n * (n + 1) // 2


def features(x: Tensor) -> Tensor:
    """x (..., n) the intensities of S's modalities -> phi_S(x) (..., F_S)."""
    n = x.shape[-1]
    rows, cols = torch.triu_indices(n, n, device=x.device)
    ones = torch.ones_like(x[..., :1])
    return torch.cat([ones, x, x[..., rows] * x[..., cols]], dim=-1)


class RegressionMethod(Method):
    """One least-squares polynomial per (input subset, target); no optimiser steps."""

    name = "regression"
    adversarial = False
    trainable = False  # the trainer calls fit_closed_form instead of taking steps
    coef: Tensor  # (J, M, F) buffers, saved in the checkpoint
    fallback: Tensor  # (M,)

    def __init__(self, modalities: tuple[str, ...], objective: Objective | None = None) -> None:
        super().__init__(modalities, objective)
        m = len(self.modalities)
        self.subsets = all_subsets(m)  # J subsets, by size then lexicographically
        width = feature_count(m)
        self.register_buffer("coef", torch.zeros(len(self.subsets), m, width))  # (J, M, F)
        self.register_buffer("fallback", torch.full((m,), -1.0))  # mean of t in the brain

    def losses(self, batch: dict[str, Tensor], step: int) -> ELBOTerms:
        raise NotImplementedError("regression is fitted in closed form (fit_closed_form)")

    @torch.no_grad()
    def fit_closed_form(self, batches: Iterable[dict[str, Tensor]]) -> None:
        """Accumulate the normal equations over ``batches`` of training slices, then solve.

        batch["images"] (B, M, C, H, W) in [-1, 1], ["present"] (B, M), ["mask"] (B, 1, H, W).
        """
        m, width = len(self.modalities), self.coef.shape[-1]
        gram = torch.zeros(len(self.subsets), m, width, width, dtype=torch.float64)
        moment = torch.zeros(len(self.subsets), m, width, dtype=torch.float64)
        target_sum = torch.zeros(m, dtype=torch.float64)
        target_count = torch.zeros(m, dtype=torch.float64)
        for batch in batches:
            images = batch["images"][:, :, 0].double()  # (B, M, H, W)
            present = batch["present"].bool()  # (B, M)
            brain = batch["mask"][:, 0].bool().flatten(1).double()  # (B, V)
            voxels = images.flatten(2).transpose(1, 2)  # (B, V, M)
            target_sum += ((voxels * brain[..., None]).sum(1) * present).sum(0)
            target_count += (brain.sum(1, keepdim=True) * present).sum(0)
            for j, subset in enumerate(self.subsets):
                rows = present[:, list(subset)].all(dim=1)  # (B,) cases with S
                if not bool(rows.any()):
                    continue
                phi = features(voxels[rows][..., list(subset)]) * brain[rows, :, None]  # (b, V, F)
                f = phi.shape[-1]
                g = torch.einsum("bvf,bvg->bfg", phi, phi)  # (b, F, F) per slice
                r = torch.einsum("bvf,bvm->bmf", phi, voxels[rows])  # (b, M, F)
                has = present[rows].double()  # (b, M): slices where target t exists
                gram[j, :, :f, :f] += torch.einsum("bm,bfg->mfg", has, g)
                moment[j, :, :f] += (r * has[..., None]).sum(dim=0)
        fallback = target_sum / target_count.clamp_min(1.0)
        self.fallback.copy_(torch.where(target_count > 0, fallback, -1.0).float())
        self.coef.zero_()
        for j, subset in enumerate(self.subsets):
            f = feature_count(len(subset))
            for t in range(m):
                a, b = gram[j, t, :f, :f], moment[j, t, :f]
                if float(a[0, 0]) < f:  # fewer voxels than unknowns: not identifiable
                    self.coef[j, t, 0] = self.fallback[t]
                    continue
                ridge = RIDGE * float(a.diagonal().mean()) * torch.eye(f, dtype=a.dtype)
                self.coef[j, t, :f] = torch.linalg.solve(a + ridge, b).float()

    def sampler(
        self,
        images: Tensor,
        present: Tensor,
        mask: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> Sampler:
        """Deterministic: every row gets the polynomial of its own input pattern."""
        out = torch.empty_like(images)  # (B, M, C, H, W)
        patterns = {tuple(int(i) for i in row.nonzero().flatten()) for row in present}
        for subset in patterns:
            pattern = subset_mask(subset, present.shape[1], present.device)  # (M,)
            rows = (present == pattern).all(dim=1)  # (B,)
            x = images[rows][:, list(subset)].movedim(1, -1)  # (b, C, H, W, n)
            coef = self.coef[self.subsets.index(subset), :, : feature_count(len(subset))]
            y = features(x.float()) @ coef.T  # (b, C, H, W, M)
            out[rows] = y.movedim(-1, 1).clamp(-1.0, 1.0).to(out.dtype)
        background = torch.full((), -1.0, dtype=out.dtype, device=out.device)
        result = torch.where(mask[:, None].bool(), out, background)
        return lambda: result

    def deterministic(self, temperature: float) -> bool:
        return True


def build_regression(config: Config, modalities: tuple[str, ...]) -> RegressionMethod:
    return RegressionMethod(tuple(modalities), Objective.from_config(config.train))
