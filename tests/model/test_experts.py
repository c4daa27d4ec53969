import pytest
import torch

from mmhvae.model.experts import product_of_experts


def test_one_expert_with_standard_prior_closed_form() -> None:
    mu, s = torch.tensor([0.8, -2.0, 3.0]), torch.tensor([0.5, 1.0, 2.0])
    experts_mu = torch.stack([torch.zeros(3), mu])[:, None]  # (E=2, N=1, 3)
    experts_lv = torch.stack([torch.zeros(3), 2 * s.log()])[:, None]
    mean, log_var = product_of_experts(experts_mu, experts_lv, torch.ones(2, 1))
    torch.testing.assert_close(mean[0], mu / (1 + s**2))
    torch.testing.assert_close(log_var[0].exp(), s**2 / (1 + s**2))


def test_general_product_closed_form() -> None:
    g = torch.Generator().manual_seed(0)
    mu, lv = torch.randn(4, 2, 5, generator=g), torch.randn(4, 2, 5, generator=g)
    mean, log_var = product_of_experts(mu, lv, torch.ones(4, 2))
    precision = (1 / lv.exp()).sum(0)
    torch.testing.assert_close(log_var, -precision.log())
    torch.testing.assert_close(mean, (mu / lv.exp()).sum(0) / precision)


def test_all_absent_gives_the_prior() -> None:
    g = torch.Generator().manual_seed(1)
    mu, lv = torch.randn(4, 3, 2, 6, 6, generator=g), torch.randn(4, 3, 2, 6, 6, generator=g)
    weight = torch.zeros(4, 3)
    weight[0] = 1  # the prior only
    mean, log_var = product_of_experts(mu, lv, weight)
    torch.testing.assert_close(mean, mu[0])
    torch.testing.assert_close(log_var, lv[0])


def test_order_of_experts_does_not_matter() -> None:
    g = torch.Generator().manual_seed(2)
    mu, lv = torch.randn(5, 4, 3, generator=g), torch.randn(5, 4, 3, generator=g)
    weight = (torch.rand(5, 4, generator=g) > 0.4).float()
    weight[0] = 1
    perm = torch.tensor([3, 0, 4, 2, 1])
    a = product_of_experts(mu, lv, weight)
    b = product_of_experts(mu[perm], lv[perm], weight[perm])
    torch.testing.assert_close(a, b)


def test_zero_weight_experts_change_nothing_and_get_no_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    mu, lv = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    weight = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # mixed patterns in one batch
    garbage_mu = mu.clone().requires_grad_(True)
    garbage_lv = lv.clone().requires_grad_(True)
    with torch.no_grad():
        garbage_mu[1, 1] = 1e3
        garbage_lv[2, 0] = -9.0
    mean, log_var = product_of_experts(garbage_mu, garbage_lv, weight)
    for n, kept in ((0, [0, 1]), (1, [0, 2])):
        ref_mean, ref_lv = product_of_experts(
            mu[kept, n : n + 1], lv[kept, n : n + 1], torch.ones(2, 1)
        )
        torch.testing.assert_close(mean[n : n + 1], ref_mean)
        torch.testing.assert_close(log_var[n : n + 1], ref_lv)
    (mean.sum() + log_var.sum()).backward()
    assert garbage_mu.grad is not None and garbage_lv.grad is not None
    assert (garbage_mu.grad[1, 1] == 0).all() and (garbage_lv.grad[2, 0] == 0).all()
    assert (garbage_mu.grad[1, 0] != 0).all()


def test_mismatched_shapes_are_refused_with_every_shape() -> None:
    with pytest.raises(ValueError, match=r"\(3, 2, 4\), \(3, 2, 4\), \(2, 2\)"):
        product_of_experts(torch.zeros(3, 2, 4), torch.zeros(3, 2, 4), torch.ones(2, 2))
