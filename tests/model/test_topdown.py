"""The hierarchical posterior against an independent computation: at every level the product
of the prior with the weighted experts, its KL to the prior, and the temperature on the std;
and K stacked components against K separate calls."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.distributions import Normal as TorchNormal
from torch.distributions import kl_divergence

from mmhvae.config import ModelConfig
from mmhvae.methods.subsets import sample_subsets
from mmhvae.model.network import MMHVAE
from mmhvae.model.topdown import fused_mean, fused_weighted

MODALITIES = ("t1", "t1ce", "t2")
SMALL = ModelConfig(
    image_size=16,
    channels=(4, 8, 8),
    latent_channels=(2, 3, 0),
    top_latent_dim=5,
    topdown_cells=(1, 1, 1),
    cell_expansion=2,
    decoder_blocks=1,
)


def _inputs(b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, len(MODALITIES), 1, 16, 16, generator=g) * 2 - 1
    return images, torch.ones(b, 1, 16, 16, dtype=torch.bool)


def _split(params: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A head's raw output -> (mu, sigma), with the model's documented soft clamp 5 tanh(x/5)."""
    mu, log_sigma = params.float().chunk(2, dim=dim)
    return 5 * torch.tanh(mu / 5), (5 * torch.tanh(log_sigma / 5)).exp()


def _product(prior_mu, prior_sd, mus, sds, weight):
    """Gaussian product of the prior and the experts with weight (M, N) in {0, 1}, by hand."""
    w = weight.float().reshape(*weight.shape, *([1] * (mus.ndim - 2)))
    precision = 1 / prior_sd**2 + (w / sds**2).sum(0)
    mean = (prior_mu / prior_sd**2 + (w * mus / sds**2).sum(0)) / precision
    return mean, precision.rsqrt()


def test_every_level_is_the_exact_product_its_kl_and_the_temperature() -> None:
    torch.manual_seed(0)
    net = MMHVAE(SMALL, MODALITIES).eval()
    images, mask = _inputs()
    present = torch.tensor([[True, False, True], [False, True, True]])
    subsets = torch.tensor([[[True, True, True], [True, False, False]]] * 2)  # (B, K=2, M)
    b, k = subsets.shape[:2]
    weight = (subsets & present[:, None]).transpose(0, 1).reshape(k * b, -1).T  # (M, N)
    evidence = net.encode(images)
    calls: list[tuple[str, tuple]] = []
    zs: list[torch.Tensor] = []
    hooks = [
        net.topdown.top.register_forward_pre_hook(lambda mod, args: calls.append(("top", args))),
        net.topdown.top.state.register_forward_pre_hook(lambda mod, args: zs.append(args[0])),
    ]
    for group in net.topdown.groups.values():
        hooks.append(group.register_forward_pre_hook(lambda mod, args: calls.append((mod, args))))
        hooks.append(group.project.register_forward_pre_hook(lambda mod, args: zs.append(args[0])))
    temperature, seed = 0.6, 7
    with torch.no_grad():
        _, kl = net.topdown(evidence, weight, temperature, torch.Generator().manual_seed(seed))
    for hook in hooks:
        hook.remove()
    assert len(calls) == len(zs) == net.levels == 3 and kl.shape == (k * b, 3)

    replay = torch.Generator().manual_seed(seed)  # the model draws eps top first, in order
    with torch.no_grad():
        for level, ((who, args), z) in enumerate(zip(calls, zs, strict=True)):
            if who == "top":
                top_experts, w = args[0], args[1]  # (M, B, 2 latent): the top's evidence
                params = top_experts.repeat(1, k, 1)
                mus, sds = _split(params, dim=2)  # (M, N, latent)
                prior_mu, prior_sd = torch.zeros_like(mus[0]), torch.ones_like(sds[0])
            else:
                h, group_skips, w = args[0], args[1], args[2]
                prior_mu, prior_sd = _split(who.prior(h), dim=1)
                experts = who.expert(h, group_skips)  # the head, (M, N, lc, ...): a black box
                mus, sds = experts.mu, experts.log_sigma.exp()
            assert torch.equal(w, weight)
            mean, sd = _product(prior_mu, prior_sd, mus, sds, weight)
            eps = torch.randn(mean.shape, generator=replay)
            torch.testing.assert_close(z, mean + temperature * sd * eps, atol=1e-5, rtol=1e-4)
            expected_kl = kl_divergence(TorchNormal(mean, sd), TorchNormal(prior_mu, prior_sd))
            torch.testing.assert_close(
                kl[:, level], expected_kl.flatten(1).sum(1), atol=1e-4, rtol=1e-4
            )


@pytest.mark.parametrize("fused", [(), (0, 1)])
def test_k_stacked_components_equal_k_separate_calls(fused: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = MMHVAE(dataclasses.replace(SMALL, fused_skips=fused), MODALITIES).eval()
    images, mask = _inputs(b=3, seed=1)
    present = torch.tensor([[True, True, True], [True, False, True], [False, True, False]])
    subsets = sample_subsets(present, 4, torch.Generator().manual_seed(2))  # (B, K, M)
    with torch.no_grad():
        stacked = net(images, present, subsets, mask, temperature=0.0)
        for c in range(subsets.shape[1]):
            alone = net(images, present, subsets[:, c : c + 1], mask, temperature=0.0)
            torch.testing.assert_close(stacked.decoded[c], alone.decoded[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(
                stacked.kl_examples[c], alone.kl_examples[0], atol=1e-4, rtol=1e-4
            )


def test_fused_mean_is_the_weighted_mean_over_each_rows_experts() -> None:
    """evidence (M, B, c, H, W), weight (M, K*B): row k * B + b averages example b's features
    of the experts with weight 1 in that row; a row without an expert gets 0."""
    g = torch.Generator().manual_seed(0)
    evidence = torch.randn(3, 2, 4, 5, 5, generator=g)  # M = 3, B = 2
    weight = torch.tensor(
        [[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]
    )  # (M, K*B), K = 2: rows (k=0, b=0), (0, 1), (1, 0), (1, 1)
    out = fused_mean(evidence, weight)
    assert out.shape == (4, 4, 5, 5)
    torch.testing.assert_close(out[0], (evidence[0, 0] + evidence[1, 0]) / 2)
    torch.testing.assert_close(out[1], (evidence[1, 1] + evidence[2, 1]) / 2)
    torch.testing.assert_close(out[2], (evidence[0, 0] + evidence[2, 0]) / 2)
    assert not out[3].any()


def test_fused_weighted_is_a_softmax_over_each_rows_experts() -> None:
    """evidence (M, B, 2c, ...): features then log-weights a; row k * B + b weighs the features
    of its experts by exp(5 tanh(a / 5)), per voxel and channel; equal log-weights give the
    plain mean, and a row without an expert gets 0."""
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 2, 4, 5, 5, generator=g)  # M = 3, B = 2, c = 4
    logits = torch.randn(3, 2, 4, 5, 5, generator=g) * 3
    weight = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    out = fused_weighted(torch.cat([features, logits], dim=2), weight)
    assert out.shape == (4, 4, 5, 5)
    e = (5 * torch.tanh(logits / 5)).exp()
    by_hand = (e[0, 0] * features[0, 0] + e[2, 0] * features[2, 0]) / (e[0, 0] + e[2, 0])
    torch.testing.assert_close(out[2], by_hand)
    by_hand = (e[1, 1] * features[1, 1] + e[2, 1] * features[2, 1]) / (e[1, 1] + e[2, 1])
    torch.testing.assert_close(out[1], by_hand)
    assert not out[3].any()
    flat = torch.cat([features, torch.zeros_like(logits)], dim=2)
    torch.testing.assert_close(fused_weighted(flat, weight), fused_mean(features, weight))
