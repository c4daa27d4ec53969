"""The one objective (losses/elbo.py) against hand computations and closed forms."""

import pytest
import torch

from mmhvae.losses.elbo import distortion, elbo_terms, kl_weight, rate, rate_per_voxel


def test_distortion_hand_computed() -> None:
    target = torch.zeros(2, 2, 1, 2, 2)  # (B, M, C, H, W)
    decoded = torch.zeros(3, 2, 2, 1, 2, 2)  # (K, B, M, C, H, W)
    decoded[0, 0, 0] = 1.0  # error 1 on an observed modality
    decoded[1, 1, 1, 0, 0, 0] = 4.0  # error 1 (mean of 4, 0, 0, 0) on an observed modality
    present = torch.tensor([[True, False], [True, True]])
    weight = present[None].expand(3, -1, -1)  # (K, B, M)
    # 3 observed (b, m) pairs x 3 components; total error 2
    torch.testing.assert_close(distortion(decoded, target, weight), torch.tensor(2.0 / 9.0))


def test_distortion_never_reads_unweighted_slots() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 4, 1, 5, 5, generator=g)
    decoded = torch.rand(2, 3, 4, 1, 5, 5, generator=g)
    present = torch.tensor([[True, False, True, False], [False, True, False, False], [True] * 4])
    weight = present[None].expand(2, -1, -1)
    base = distortion(decoded, target, weight)
    spoiled_target = torch.where(present[:, :, None, None, None], target, float("nan"))
    spoiled_decoded = torch.where(present[None, :, :, None, None, None], decoded, -100.0)
    torch.testing.assert_close(distortion(spoiled_decoded, spoiled_target, weight), base)
    errors = (decoded - target).abs().mean(dim=(3, 4, 5))  # (K, B, M)
    torch.testing.assert_close(base, errors[:, present].mean())


def test_rate_averages_over_the_components_that_count() -> None:
    kl = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [100.0, 100.0]]])  # (K=2, B=2, L=2)
    valid = torch.tensor([[True, True], [True, False]])  # (K, B): the last component is out
    total, levels = rate(kl, valid)
    torch.testing.assert_close(levels, torch.tensor([3.0, 4.0]))  # (1+3+5)/3, (2+4+6)/3
    torch.testing.assert_close(total, torch.tensor(7.0))


def test_loss_is_distortion_plus_beta_rate_per_voxel() -> None:
    g = torch.Generator().manual_seed(1)
    k, b, m, h, w = 3, 2, 4, 6, 5
    decoded = torch.rand(k, b, m, 1, h, w, generator=g)
    target = torch.rand(b, m, 1, h, w, generator=g)
    weight = torch.rand(k, b, m, generator=g) > 0.3
    kl = torch.rand(k, b, 3, generator=g) * 50
    valid = torch.ones(k, b, dtype=torch.bool)
    terms = elbo_terms(decoded, target, weight, kl, valid, beta=0.4)
    torch.testing.assert_close(terms.rate, kl.sum(dim=2).mean())
    torch.testing.assert_close(terms.rate_levels, kl.mean(dim=(0, 1)))
    torch.testing.assert_close(terms.distortion, distortion(decoded, target, weight))
    n = weight.sum(dim=2).clamp_min(1)  # (K, B) modalities each component reconstructs
    torch.testing.assert_close(terms.rate_per_voxel, (kl.sum(dim=2) / (h * w * n)).mean())
    torch.testing.assert_close(terms.loss, terms.distortion + 0.4 * terms.rate_per_voxel)
    # fakes: component k of example b is row k * B + b
    torch.testing.assert_close(terms.fakes[1 * b + 1], decoded[1, 1])
    assert terms.fakes.shape == (k * b, m, 1, h, w)


def test_rate_per_voxel_shares_the_kl_among_the_reconstructed_images() -> None:
    kl = torch.tensor([[[6.0, 2.0], [8.0, 4.0]], [[30.0, 0.0], [99.0, 99.0]]])  # (K=2, B=2, L=2)
    valid = torch.tensor([[True, True], [True, False]])
    weight = torch.tensor(  # (K, B, M): 2, 3, 1 and 0 reconstructed modalities
        [[[1, 1, 0], [1, 1, 1]], [[0, 0, 1], [0, 0, 0]]], dtype=torch.bool
    )
    # (8 / 2 + 12 / 3 + 30 / 1) / (3 components that count) / (10 voxels)
    expected = torch.tensor((4.0 + 4.0 + 30.0) / 3 / 10)
    torch.testing.assert_close(rate_per_voxel(kl, valid, weight, voxels=10), expected)
    # the Laplace ELBO: beta = 1 and one image reconstructed -> KL / V per voxel
    one = torch.tensor([[[True]]])
    torch.testing.assert_close(
        rate_per_voxel(torch.tensor([[[7.0]]]), one[..., 0], one, voxels=7), torch.tensor(1.0)
    )


@pytest.mark.parametrize(("step", "expected"), [(0, 0.0), (50, 0.25), (100, 0.5), (500, 0.5)])
def test_kl_weight_is_linear_then_beta(step: int, expected: float) -> None:
    assert kl_weight(step, warmup_steps=100, beta=0.5) == pytest.approx(expected)


def test_kl_weight_without_warmup_is_beta() -> None:
    assert kl_weight(0, warmup_steps=0, beta=2.0) == 2.0


def test_a_one_step_warmup_starts_at_zero() -> None:
    assert kl_weight(0, warmup_steps=1, beta=2.0) == 0.0
    assert kl_weight(1, warmup_steps=1, beta=2.0) == 2.0
