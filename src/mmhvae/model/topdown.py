"""The shared top-down path: per latent group a prior p(z_l | z_>l), one posterior expert per
input modality (one head shared by the modalities), their exact product, a sample and its KL.

Shapes: M modalities, B examples, K components, N = K * B rows of the top-down batch (component
k of example b is row k * B + b), c and lc the state and latent widths at a scale, ``...`` space.
What the path reads of a modality, its *evidence* (:meth:`TopDown.evidence`: the top expert's
parameters and each group's projection of the skip features), depends on that modality alone:
it is computed once per modality, (M, B, ...), and serves all K components and, in synthesis,
every input pattern that gives the modality.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmhvae.config import ModelConfig
from mmhvae.model.experts import product_of_experts
from mmhvae.model.gaussian import Normal, soft_clamp
from mmhvae.model.layers import InvertedResidualCell, Upsample, conv


def posterior(prior: Normal, experts: Normal, weight: Tensor) -> Normal:
    """q proportional to prior * prod_m expert_m^weight_m (weight (M, N) in {0, 1}).

    prior: (N, ...); experts: (M, N, ...). The prior is the always-present expert.
    """
    mu = torch.cat([prior.mu[None], experts.mu])  # (1 + M, N, ...)
    log_var = 2.0 * torch.cat([prior.log_sigma[None], experts.log_sigma])  # (1 + M, N, ...)
    ones = torch.ones_like(weight[:1])  # (1, N)
    mean, log_var_q = product_of_experts(mu, log_var, torch.cat([ones, weight]))
    return Normal(mean, 0.5 * log_var_q)


def fused_mean(evidence: Tensor, weight: Tensor, scale: Tensor | None = None) -> Tensor:
    """The experts' features averaged per component row: sum_m w_mn s_m / sum_m w_mn.

    evidence (M, B, c, ...) one entry per modality, weight (M, N) with N = K * B (row k * B + b
    reads example b) -> (N, c, ...). ``scale`` (M, B, c, ...), optional: a positive factor per
    expert, voxel and channel that multiplies w_mn (:func:`fused_weighted`). A row without an
    expert gets 0.
    """
    m, b = evidence.shape[:2]
    n = weight.shape[1]
    space = evidence.shape[2:]
    w = weight.to(evidence.dtype).reshape(m, n // b, b, *([1] * len(space)))  # (M, K, B, 1, ...)
    if scale is not None:
        w = w * scale.reshape(m, 1, b, *space)  # (M, K, B, c, ...)
    total = (w * evidence.reshape(m, 1, b, *space)).sum(dim=0)  # (K, B, c, ...)
    count = w.sum(dim=0).clamp_min(torch.finfo(w.dtype).tiny)
    return (total / count).reshape(n, *space)


def fused_weighted(evidence: Tensor, weight: Tensor) -> Tensor:
    """A softmax over each row's experts, per voxel and channel: evidence (M, B, 2c, ...) holds
    each modality's features f_m and log-weights a_m (channels [:c] and [c:]) ->
    sum_m w_mn e_m f_m / sum_m w_mn e_m, (N, c, ...), with e_m = exp(5 tanh(a_m / 5)) (bounded:
    no overflow, and no expert is ever ignored outright). weight (M, N), N = K * B as in
    :func:`fused_mean`; a row without an expert gets 0."""
    features, logits = evidence.chunk(2, dim=2)  # (M, B, c, ...) each
    return fused_mean(features, weight, soft_clamp(logits).exp())


# how :class:`TopDown` combines the experts' features at a fused scale, and how many channels
# per state channel its fusion convs give (the weighted fusion's log-weights double them)
FUSIONS = {"mean": (fused_mean, 1), "weighted": (fused_weighted, 2)}


class ExpertHead(nn.Module):
    """Posterior expert of modality m from the state h and m's skip features s_m:

    params = conv1(silu(conv3_s(s_m) + conv1_h(h)))  -> (mu, log sigma) of 2 * lc channels.

    This is a conv of concat(h, s_m) split in two, so the skip part (:meth:`evidence`) runs
    once per modality (B rows) and the state part once per component (N rows); only the last
    1x1 conv sees M * N rows. The state part is 1x1: the state has just been through a
    spatial cell.
    """

    def __init__(self, spatial_dims: int, channels: int, latent: int) -> None:
        super().__init__()
        self.from_skip = conv(spatial_dims, channels, channels, 3)
        self.from_state = conv(spatial_dims, channels, channels, 1, bias=False)
        self.out = conv(spatial_dims, channels, 2 * latent, 1)

    def evidence(self, skips: Tensor) -> Tensor:
        """conv3_s(s_m): one modality's skip features (B, c, ...) -> (B, c, ...)."""
        return self.from_skip(skips)

    def forward(self, h: Tensor, evidence: Tensor) -> Normal:
        """h (N, c, ...), evidence (M, B, c, ...) (:meth:`evidence` per modality) -> the
        M experts (M, N, lc, ...)."""
        m, b = evidence.shape[:2]
        n = h.shape[0]
        k = n // b
        space = h.shape[2:]
        s = evidence.reshape(m, 1, b, *evidence.shape[2:])  # (M, 1, B, c, ...)
        t = self.from_state(h).reshape(1, k, b, -1, *space)  # (1, K, B, c, ...)
        joint = F.silu(s + t).reshape(m * n, -1, *space)  # (M*K*B, c, ...)
        params = self.out(joint).reshape(m, n, -1, *space)  # (M, N, 2 lc, ...)
        return Normal.from_head(params, dim=2)


class LatentGroup(nn.Module):
    """One group z_l at a scale: prior head, expert head, PoE, sample, KL, and h + W z."""

    def __init__(self, spatial_dims: int, channels: int, latent: int) -> None:
        super().__init__()
        self.prior = nn.Sequential(nn.SiLU(), conv(spatial_dims, channels, 2 * latent, 1))
        self.expert = ExpertHead(spatial_dims, channels, latent)
        self.project = conv(spatial_dims, latent, channels, 1)

    def forward(
        self,
        h: Tensor,
        evidence: Tensor,
        weight: Tensor,
        temperature: float,
        generator: torch.Generator | None,
        with_kl: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """h (N, c, ...), evidence (M, B, c, ...), weight (M, N) -> (new h, KL (N,) or None
        without ``with_kl``: a draw does not read it)."""
        prior = Normal.from_head(self.prior(h))  # (N, lc, ...)
        q = posterior(prior, self.expert(h, evidence), weight)
        z = q.rsample(temperature, generator)
        kl = q.kl(prior).flatten(1).sum(dim=1) if with_kl else None  # (N,)
        return h + self.project(z.to(h.dtype)), kl


class TopGroup(nn.Module):
    """The global group: a ``top_latent_dim`` vector with prior N(0, I); its experts read the
    flattened coarsest skip features (linear), and a linear map makes the first state."""

    def __init__(self, spatial_dims: int, channels: int, side: int, latent: int) -> None:
        super().__init__()
        self.shape = (channels,) + (side,) * spatial_dims
        flat = math.prod(self.shape)
        self.expert = nn.Linear(flat, 2 * latent)
        self.state = nn.Linear(latent, flat)

    def evidence(self, skips: Tensor) -> Tensor:
        """One modality's expert: its coarsest skip features (B, c, ...) -> (B, 2 latent)."""
        return self.expert(skips.flatten(1))

    def forward(
        self,
        evidence: Tensor,
        weight: Tensor,
        temperature: float,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor]:
        """evidence (M, B, 2 latent) (:meth:`evidence` per modality), weight (M, N) ->
        (state (N, c, ...), KL (N,))."""
        b = evidence.shape[1]
        n = weight.shape[1]
        params = evidence.repeat(1, n // b, 1)  # (M, N, 2 latent): row k * B + b <- example b
        experts = Normal.from_head(params, dim=2)
        prior = Normal.standard(experts.mu[0])  # (N, latent)
        q = posterior(prior, experts, weight)
        z = q.rsample(temperature, generator)
        kl = q.kl(prior).sum(dim=1)  # (N,)
        h = self.state(z.to(self.state.weight.dtype))
        return h.reshape(n, *self.shape), kl  # (N, c, side, side[, side])


class TopDown(nn.Module):
    """From the top vector down to the full-resolution state, one latent group per scale with
    ``latent_channels[i] > 0``. Levels are ordered as sampled: top first, finest last.

    At each scale of ``fused_skips`` the state also receives a conv of the given modalities'
    skip features, averaged over each row's experts (:func:`fused_mean`, or
    :func:`fused_weighted` with ``fusion: weighted``), before the scale's cells: a
    deterministic path from the inputs beside the latent groups.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dims, channels = config.spatial_dims, config.channels
        scales = len(channels)
        side = config.image_size // 2 ** (scales - 1)
        self.top = TopGroup(dims, channels[-1], side, config.top_latent_dim)
        self.ups = nn.ModuleList(
            Upsample(dims, channels[i + 1], channels[i]) for i in range(scales - 1)
        )
        self.cells = nn.ModuleList(
            nn.Sequential(
                *(
                    InvertedResidualCell(dims, width, config.cell_expansion, config.se_reduction)
                    for _ in range(cells)
                )
            )
            for width, cells in zip(channels, config.topdown_cells, strict=True)
        )
        self.groups = nn.ModuleDict(
            {
                str(i): LatentGroup(dims, channels[i], latent)
                for i, latent in enumerate(config.latent_channels)
                if latent > 0
            }
        )
        self.fuse, width = FUSIONS[config.fusion]
        self.fusions = nn.ModuleDict(
            {
                str(i): conv(dims, channels[i], width * channels[i], 3)
                for i in sorted(config.fused_skips)
            }
        )

    @property
    def levels(self) -> int:
        return 1 + len(self.groups)

    def evidence(self, skips: list[Tensor]) -> list[Tensor]:
        """What the path reads of ONE modality: its skip features per scale (B, c_i, ...)
        -> [the top expert (B, 2 top_latent)] + [each latent group's conv3_s of its scale's
        features, finest group first] + [each fused scale's conv of its features, finest
        first]: the path's only input from the modality."""
        groups: list[Tensor] = []
        for key, group in self.groups.items():
            assert isinstance(group, LatentGroup)
            groups.append(group.expert.evidence(skips[int(key)]))
        fused = [fusion(skips[int(key)]) for key, fusion in self.fusions.items()]
        return [self.top.evidence(skips[-1]), *groups, *fused]

    def forward(
        self,
        evidence: list[Tensor],
        weight: Tensor,
        temperature: float,
        generator: torch.Generator | None = None,
        with_kl: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """evidence (:meth:`evidence`, each entry stacked over the M modalities: (M, B, ...)),
        weight (M, N) -> (state (N, c_0, ...), KL (N, L), or None without ``with_kl``)."""
        h, kl_top = self.top(evidence[0], weight, temperature, generator)
        kls = [kl_top]
        index = {int(key): 1 + j for j, key in enumerate(self.groups)}
        fused = {int(key): 1 + len(self.groups) + j for j, key in enumerate(self.fusions)}
        for i in reversed(range(len(self.cells))):
            if i < len(self.ups):
                h = self.ups[i](h)
            if i in fused:
                h = h + self.fuse(evidence[fused[i]], weight)
            h = self.cells[i](h)
            if i in index:
                group = self.groups[str(i)]
                h, kl = group(h, evidence[index[i]], weight, temperature, generator, with_kl)
                kls.append(kl)
        if not with_kl:
            return h, None
        return h, torch.stack([kl for kl in kls if kl is not None], dim=1)  # (N, L)
