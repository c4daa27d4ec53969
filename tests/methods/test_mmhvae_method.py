"""MMHVAE as a Method: its losses go through the one objective, its synthesis through the
one template around the network's condition/draw."""

import dataclasses

import pytest
import torch

from mmhvae.config import Config, ModelConfig, TrainConfig
from mmhvae.errors import ConfigError
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
TRAIN = TrainConfig(components=3, beta=0.5, kl_warmup_steps=10)


def _method() -> MMHVAEMethod:
    torch.manual_seed(0)
    method = build_method(Config(model=SMALL, train=TRAIN), MODALITIES)
    assert isinstance(method, MMHVAEMethod) and method.modalities == MODALITIES
    return method


def _batch(present: torch.Tensor) -> dict[str, torch.Tensor]:
    b, m = present.shape
    images = torch.where(present[:, :, None, None, None], torch.rand(b, m, 1, 16, 16) * 2 - 1, -1.0)
    return {
        "images": images,
        "present": present,
        "mask": torch.ones(b, 1, 16, 16, dtype=torch.bool),
    }


def test_losses_follow_the_config_and_the_kl_schedule() -> None:
    method = _method()
    assert method.objective.components == 3 and method.objective.beta == 0.5
    present = torch.tensor([[True, False, True, False], [True, False, False, True]])
    batch = _batch(present)
    out = method.losses(batch, step=5)  # warm-up: beta(5) = 0.5 * 5 / 10
    assert out.fakes.shape == (6, 4, 1, 16, 16)  # K * B rows
    assert out.rate_levels.shape == (3,)
    torch.testing.assert_close(out.rate, out.rate_levels.sum())
    # both examples reconstruct 2 observed modalities: the KL per voxel is rate / (256 * 2)
    torch.testing.assert_close(out.rate_per_voxel, out.rate / (256 * 2))
    torch.testing.assert_close(out.loss, out.distortion + 0.25 * out.rate / (256 * 2))
    assert out.distortion.ndim == 0 and 0 < float(out.distortion.detach()) < 2
    out.loss.backward()
    assert method.net.encoders["t1"].stem.weight.grad is not None
    # t1ce is absent from every example: its encoder must get no gradient
    assert float(method.net.encoders["t1ce"].stem.weight.grad.abs().sum()) == 0


def test_distortion_is_the_l1_of_the_observed_modalities_of_every_component() -> None:
    method = _method()
    present = torch.tensor([[True, True, False, False]])
    batch = _batch(present)
    out = method.losses(batch, step=0)
    fakes = out.fakes.reshape(3, 1, 4, 1, 16, 16)  # (K, B, M, C, H, W)
    expected = (fakes[:, :, :2] - batch["images"][None, :, :2]).abs().mean()
    torch.testing.assert_close(out.distortion, expected)
    torch.testing.assert_close(out.loss, out.distortion)  # beta(0) = 0


def test_a_nan_in_an_absent_slot_changes_nothing() -> None:
    method = _method()
    present = torch.tensor([[True, False, True, True], [True, True, False, True]])
    batch = _batch(present)
    torch.manual_seed(3)
    clean = method.losses(batch, step=10)
    poisoned = dict(
        batch, images=torch.where(present[:, :, None, None, None], batch["images"], float("nan"))
    )
    torch.manual_seed(3)
    dirty = method.losses(poisoned, step=10)
    torch.testing.assert_close(dirty.loss, clean.loss)
    method.eval()
    syn = method.synthesize(poisoned["images"], present, poisoned["mask"], temperature=0.0)
    assert torch.isfinite(syn.mean).all()


def test_synthesis_is_the_template_around_condition_and_draw() -> None:
    method = _method().eval()
    present = torch.tensor([[False, True, False, False]])
    batch = _batch(present)
    images, mask = batch["images"], batch["mask"]
    syn = method.synthesize(images, present, mask, temperature=0.5, n_samples=3)
    assert syn.mean.shape == (1, 4, 1, 16, 16) and syn.std is not None
    skips, weight = method.net.condition(images, present)
    ref = method.net.draw(skips, weight, mask, 0.0)
    cold = method.synthesize(images, present, mask, temperature=0.0, n_samples=4)
    torch.testing.assert_close(cold.mean, ref)
    assert cold.std is not None and torch.equal(cold.std, torch.zeros_like(ref))


def test_synthesis_refuses_unusable_calls() -> None:
    method = _method().eval()
    batch = _batch(torch.tensor([[True, False, False, False]]))
    with pytest.raises(ValueError, match="at least one present modality"):
        method.synthesize(batch["images"], torch.zeros(1, 4, dtype=torch.bool), batch["mask"])
    with pytest.raises(ValueError, match="n_samples"):
        method.synthesize(batch["images"], batch["present"], batch["mask"], 0.7, 0)


def test_the_builder_reads_the_objective_from_the_train_section() -> None:
    config = Config(model=SMALL, train=dataclasses.replace(TRAIN, components=5, beta=0.01))
    method = build_method(config, MODALITIES)
    assert (method.objective.components, method.objective.beta) == (5, 0.01)
    assert method.objective.kl_weight(10**6) == 0.01


def test_one_anchored_component_is_refused_one_uniform_component_trains_subsets() -> None:
    one = dataclasses.replace(TRAIN, components=1)
    with pytest.raises(ConfigError, match="mixture=uniform"):
        build_method(Config(model=SMALL, train=one), MODALITIES)
    uniform = build_method(
        Config(model=SMALL, train=dataclasses.replace(one, mixture="uniform")), MODALITIES
    )
    present = torch.ones(4000, 4, dtype=torch.bool)
    torch.manual_seed(0)
    subsets = uniform.components(present, 1)  # (B, 1, M)
    assert subsets.shape == (4000, 1, 4)
    sizes = subsets[:, 0].sum(dim=1)
    # uniform over the 15 non-empty subsets: sizes 1..4 with probability 4, 6, 4, 1 in 15
    for size, share in ((1, 4 / 15), (2, 6 / 15), (3, 4 / 15), (4, 1 / 15)):
        assert abs(float((sizes == size).float().mean()) - share) < 0.03


def test_the_sampler_hook_is_the_synthesis_of_one_pattern() -> None:
    # Method.sampler is the one-pattern hook of the base template: with the same generator
    # it draws what synthesize gives, follows the temperature and ignores the global RNG
    method = _method().eval()
    present = torch.tensor([[True, False, True, False], [False, True, False, False]])
    batch = _batch(present)
    images, mask = batch["images"], batch["mask"]
    with torch.no_grad():
        expected = method.synthesize(
            images, present, mask, 0.7, 1, torch.Generator().manual_seed(5)
        )
        torch.manual_seed(9)
        drawn = method.sampler(images, present, mask, 0.7, torch.Generator().manual_seed(5))()
        torch.testing.assert_close(drawn, expected.mean)
        cold = method.sampler(images, present, mask, 0.0, torch.Generator().manual_seed(5))()
        zero = method.synthesize(images, present, mask, 0.0, 1)
        torch.testing.assert_close(cold, zero.mean)
    assert not torch.allclose(drawn, cold)
    # outside the mask every modality is background
    half = mask.clone()
    half[..., 8:] = False
    with torch.no_grad():
        out = method.sampler(images, present, half, 0.7, torch.Generator().manual_seed(5))()
    assert bool((out[..., 8:] == -1).all())


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_training_samples_follow_the_posterior_temperature(temperature: float) -> None:
    """train.posterior_temperature scales the training step's posterior samples: at 0 the
    step reads the posterior means (the same loss whatever the RNG), at 1 a fresh sample."""
    config = Config(
        model=SMALL, train=dataclasses.replace(TRAIN, posterior_temperature=temperature)
    )
    torch.manual_seed(0)
    method = build_method(config, MODALITIES)
    assert method.objective.temperature == temperature
    present = torch.tensor([[True, False, False, False]] * 2)  # one subset: no subset draw
    batch = _batch(present)
    losses = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        losses.append(method.losses(batch, step=5).loss.detach())
    assert torch.equal(losses[0], losses[1]) == (temperature == 0.0)


def test_a_negative_posterior_temperature_is_refused() -> None:
    with pytest.raises(ConfigError, match="posterior_temperature"):
        build_method(Config(model=SMALL, train=TrainConfig(posterior_temperature=-0.5)), MODALITIES)
