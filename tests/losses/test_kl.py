import pytest
import torch

from mmhvae.losses.kl import kl_per_level, kl_warmup


def test_kl_per_level_sums_latent_dims() -> None:
    maps = [torch.ones(2, 3), torch.full((2, 4, 5, 5), 0.5)]
    torch.testing.assert_close(kl_per_level(maps), torch.tensor([[3.0, 50.0], [3.0, 50.0]]))


@pytest.mark.parametrize(
    ("step", "warmup", "expected"),
    [(0, 100, 0.0), (50, 100, 1.0), (100, 100, 2.0), (500, 100, 2.0), (0, 0, 2.0), (-5, 10, 0.0)],
)
def test_kl_warmup_is_linear_then_flat(step: int, warmup: int, expected: float) -> None:
    assert kl_warmup(step, warmup, beta=2.0) == pytest.approx(expected)
