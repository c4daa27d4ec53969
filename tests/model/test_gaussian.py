import torch
from torch.distributions import Normal as TorchNormal
from torch.distributions import kl_divergence

from mmhvae.model.gaussian import CLAMP, Normal, soft_clamp


def _random(shape: tuple[int, ...], seed: int) -> Normal:
    g = torch.Generator().manual_seed(seed)
    return Normal(torch.randn(shape, generator=g), 0.5 * torch.randn(shape, generator=g))


def test_log_prob_matches_torch_distributions() -> None:
    q = _random((3, 4, 5), 0)
    x = torch.randn(3, 4, 5) * 2
    expected = TorchNormal(q.mu, q.sigma).log_prob(x)
    torch.testing.assert_close(q.log_prob(x), expected)


def test_kl_matches_torch_distributions() -> None:
    q, p = _random((2, 3, 4), 1), _random((2, 3, 4), 2)
    expected = kl_divergence(TorchNormal(q.mu, q.sigma), TorchNormal(p.mu, p.sigma))
    torch.testing.assert_close(q.kl(p), expected)
    assert (q.kl(p) >= 0).all()


def test_kl_with_itself_is_zero() -> None:
    q = _random((5, 7), 3)
    assert torch.equal(q.kl(q), torch.zeros(5, 7))


def test_rsample_moments_and_temperature() -> None:
    q = Normal(torch.full((200_000,), 1.5), torch.full((200_000,), 0.7).log())
    g = torch.Generator().manual_seed(0)
    x = q.rsample(generator=g)
    assert abs(float(x.mean()) - 1.5) < 0.01 and abs(float(x.std()) - 0.7) < 0.01
    x = q.rsample(temperature=0.5, generator=g)
    assert abs(float(x.std()) - 0.35) < 0.01
    assert torch.equal(q.rsample(temperature=0.0), q.mu)


def test_rsample_is_differentiable_and_reproducible() -> None:
    mu = torch.zeros(4, requires_grad=True)
    log_sigma = torch.zeros(4, requires_grad=True)
    x = Normal(mu, log_sigma).rsample(generator=torch.Generator().manual_seed(5))
    x.sum().backward()
    eps = torch.randn(4, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(x.detach(), eps)
    torch.testing.assert_close(log_sigma.grad, eps)
    assert torch.equal(mu.grad, torch.ones(4))


def test_soft_clamp_bounds_and_from_head() -> None:
    x = torch.tensor([-1e6, -3.0, 0.0, 0.01, 1e6])
    y = soft_clamp(x)
    assert (y.abs() <= CLAMP).all() and y[2] == 0
    torch.testing.assert_close(y[3], torch.tensor(0.01), rtol=1e-4, atol=0)
    params = torch.tensor([[100.0, -0.2], [-100.0, 0.3]]).reshape(1, 4)  # (N=1, 2C=4)
    q = Normal.from_head(params, dim=1)
    assert q.mu.shape == (1, 2) and q.log_sigma.shape == (1, 2)
    assert (q.mu.abs() <= CLAMP).all() and (q.log_sigma.abs() <= CLAMP).all()
    torch.testing.assert_close(q.mu, soft_clamp(torch.tensor([[100.0, -0.2]])))
