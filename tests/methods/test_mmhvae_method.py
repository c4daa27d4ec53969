import dataclasses

import torch

from mmhvae.config import Config, ModelConfig
from mmhvae.methods.mmhvae import MMHVAEMethod
from mmhvae.methods.registry import build_method

MODALITIES = ("t1", "t1ce", "t2", "flair")
SMALL = ModelConfig(
    image_size=16,
    channels=(4, 8, 8),
    latent_channels=(2, 4, 0),
    top_latent_dim=8,
    topdown_cells=(1, 1, 1),
    cell_expansion=2,
    decoder_blocks=1,
)


def _method() -> MMHVAEMethod:
    torch.manual_seed(0)
    method = build_method(dataclasses.replace(Config(), model=SMALL), MODALITIES)
    assert isinstance(method, MMHVAEMethod) and method.modalities == MODALITIES
    return method


def _batch(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b, m = present.shape
    images = torch.where(present[:, :, None, None, None], torch.rand(b, m, 1, 16, 16) * 2 - 1, -1.0)
    return images, torch.ones(b, 1, 16, 16, dtype=torch.bool)


def test_generator_output_losses_and_fakes() -> None:
    method = _method()
    present = torch.tensor([[True, False, True, False], [False, False, False, True]])
    images, mask = _batch(present)
    out = method.generator_output(images, present, mask, components=3)
    assert out.fakes.shape == (6, 4, 1, 16, 16)
    assert out.kl_levels.shape == (3,)
    torch.testing.assert_close(out.kl, out.kl_levels.sum())
    assert out.recon.ndim == 0 and 0 < float(out.recon.detach()) < 2
    (out.recon + out.kl).backward()
    assert method.net.encoders["t1"].stem.weight.grad is not None
    assert float(method.net.encoders["t1ce"].stem.weight.grad.abs().sum()) == 0


def test_recon_is_l1_of_observed_modalities_of_the_fakes() -> None:
    method = _method()
    present = torch.tensor([[True, True, False, False]])
    images, mask = _batch(present)
    torch.manual_seed(1)
    out = method.generator_output(images, present, mask, components=2)
    fakes = out.fakes.reshape(2, 1, 4, 1, 16, 16)  # (K, B, M, C, H, W)
    expected = (fakes[:, :, :2] - images[None, :, :2]).abs().mean()
    torch.testing.assert_close(out.recon, expected)


def test_synthesize_delegates_to_the_network() -> None:
    method = _method().eval()
    present = torch.tensor([[False, True, False, False]])
    images, mask = _batch(present)
    syn = method.synthesize(images, present, mask, temperature=0.5, n_samples=3)
    assert syn.mean.shape == (1, 4, 1, 16, 16) and syn.std is not None
    ref = method.net.synthesize(images, present, mask, 0.0)
    torch.testing.assert_close(
        method.synthesize(images, present, mask, temperature=0.0).mean, ref.mean
    )
