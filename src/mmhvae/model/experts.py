"""The exact product of Gaussian experts, with absent experts as zero precision.

Shapes: E experts, N examples (components stacked along the batch), then any latent shape.
"""

from __future__ import annotations

import torch
from torch import Tensor


def product_of_experts(mu: Tensor, log_var: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Product of E diagonal Gaussians, each included or not per example.

    mu, log_var: (E, N, ...) the experts' means and log-variances; weight: (E, N) in {0, 1}
    (1: the expert takes part, 0: it is absent). With precisions T_e = 1 / var_e,

        T   = sum_e w_e T_e                    (the product's precision)
        mu* = (sum_e w_e T_e mu_e) / T          (precision-weighted mean)
        log_var* = -log T

    An absent expert has zero precision: it changes neither T nor mu*, whatever it holds, and
    gets zero gradient. The prior must be one of the experts with weight 1 so that T > 0.
    Returns (mu*, log_var*), each (N, ...). Computed in float32.
    """
    if mu.shape != log_var.shape or weight.shape != mu.shape[:2]:
        raise ValueError(
            f"expected mu, log_var (E, N, ...) and weight (E, N); got {tuple(mu.shape)}, "
            f"{tuple(log_var.shape)}, {tuple(weight.shape)}"
        )
    w = weight.to(torch.float32).reshape(*weight.shape, *([1] * (mu.ndim - 2)))  # (E, N, 1..)
    precision = w * torch.exp(-log_var.float())  # (E, N, ...)
    total = precision.sum(dim=0)  # (N, ...)
    mean = (precision * mu.float()).sum(dim=0) / total
    return mean, -torch.log(total)
