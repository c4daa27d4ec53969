"""A diagonal Gaussian with its reparameterised sample, density and analytic KL (NVAE style).

Every latent distribution of the model is a :class:`Normal`. Raw network outputs enter through
:meth:`Normal.from_head`, the one place where means and log-scales are soft-clamped.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CLAMP = 5.0  # |mu| and |log sigma| stay within this: sigma in [e^-5, e^5] ~ [0.0067, 148]


def soft_clamp(x: Tensor, bound: float = CLAMP) -> Tensor:
    """bound * tanh(x / bound): smooth, identity near 0, |result| < bound."""
    return bound * torch.tanh(x / bound)


class Normal:
    """N(mu, sigma^2) elementwise, parameterised by ``mu`` and ``log_sigma`` (same shape)."""

    def __init__(self, mu: Tensor, log_sigma: Tensor) -> None:
        self.mu = mu
        self.log_sigma = log_sigma

    @classmethod
    def from_head(cls, params: Tensor, dim: int = 1) -> Normal:
        """Split a head's output (N, 2C, ...) into (mu, log_sigma) (N, C, ...), soft-clamped."""
        mu, log_sigma = params.float().chunk(2, dim=dim)
        return cls(soft_clamp(mu), soft_clamp(log_sigma))

    @classmethod
    def standard(cls, like: Tensor) -> Normal:
        """N(0, 1) with the shape, dtype and device of ``like``."""
        zero = torch.zeros_like(like)
        return cls(zero, zero)

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def rsample(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """mu + temperature * sigma * eps, eps ~ N(0, I): differentiable in mu and sigma."""
        if temperature == 0.0:
            return self.mu
        eps = torch.randn(
            self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype
        )
        return self.mu + temperature * self.sigma * eps

    def log_prob(self, x: Tensor) -> Tensor:
        """log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2."""
        z = (x - self.mu) * torch.exp(-self.log_sigma)
        return -0.5 * z * z - self.log_sigma - 0.5 * math.log(2.0 * math.pi)

    def kl(self, other: Normal) -> Tensor:
        """Elementwise KL(self || other), analytic:

        KL = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2.
        """
        log_ratio = self.log_sigma - other.log_sigma  # log(s1 / s2): exactly 0 for KL(q, q)
        ratio = torch.exp(log_ratio)
        delta = (self.mu - other.mu) * torch.exp(-other.log_sigma)  # (m1 - m2) / s2
        return 0.5 * (ratio * ratio + delta * delta) - 0.5 - log_ratio
