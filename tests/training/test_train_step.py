"""train_step on a real (micro) MMHVAE with real discriminators: the loss is built from its
terms, each term pushes the right way, and the GAN halves see what DESIGN.md says."""

from __future__ import annotations

import math

import pytest
import torch

from mmhvae.config import Config, ModelConfig, TrainConfig
from mmhvae.model.discriminator import Discriminators
from mmhvae.training.distributed import DistInfo
from mmhvae.training.step import CriticLoss, LossMeter, build_networks, train_step

MODALITIES = ("t1", "t1ce", "t2", "flair")
SIZE = 16
MICRO = ModelConfig(
    image_size=SIZE,
    channels=(4, 8, 8),
    latent_channels=(2, 4, 0),
    top_latent_dim=8,
    topdown_cells=(1, 1, 1),
    cell_expansion=2,
    decoder_blocks=1,
    disc_channels=4,
    disc_layers=2,
)
CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def _config(**train: object) -> Config:
    base = dict(
        components=3,
        beta=0.5,
        kl_warmup_steps=0,
        gan=True,
        gan_weight=0.3,
        gan_start=0,
        disc_start=0,
        lr=3e-3,
        grad_clip=1e6,
    )
    return Config(model=MICRO, train=TrainConfig(**(base | train)))  # type: ignore[arg-type]


def _batch(present: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth random images (a learnable structure) in [-1, 1], absent modalities -1."""
    g = torch.Generator().manual_seed(seed)
    b, m = present.shape
    coarse = torch.rand(b, m, 1, 4, 4, generator=g) * 2 - 1
    images = torch.nn.functional.interpolate(
        coarse.flatten(0, 1), size=(SIZE, SIZE), mode="bilinear"
    )
    images = images.reshape(b, m, 1, SIZE, SIZE)
    images = torch.where(present[:, :, None, None, None], images, -1.0)
    return {"images": images, "present": present, "mask": torch.ones(b, 1, SIZE, SIZE).bool()}


def _steps(
    config: Config, batch: dict[str, torch.Tensor], n: int
) -> tuple[object, list[dict[str, float]]]:
    torch.manual_seed(0)
    nets = build_networks(config, MODALITIES, CPU)
    meter = LossMeter(CPU.device)
    logs = []
    for step in range(n):
        logged = train_step(nets, batch, step, config, meter, CPU, flush=True)
        assert logged is not None
        logs.append(logged)
    return nets, logs


PRESENT = torch.tensor(
    [[True, True, False, True], [True, False, True, True], [False, True, True, True]]
)


def test_the_loss_is_its_terms_with_the_kl_per_voxel_and_the_gan_weight() -> None:
    config = _config()
    _, (row,) = _steps(config, _batch(PRESENT), 1)
    assert row["recon"] > 0 and row["kl"] > 0 and row["gan_g"] > 0 and row["disc"] > 0
    # every case observes 3 modalities: the KL is shared by 3 images' voxels
    expected = row["recon"] + 0.5 * row["kl"] / (3 * SIZE**2) + 0.3 * row["gan_g"]
    assert row["loss"] == pytest.approx(expected, rel=1e-5)
    levels = [row[f"kl_{level}"] for level in range(3)]
    assert sum(levels) == pytest.approx(row["kl"], rel=1e-5)


def test_without_the_gan_the_loss_is_the_elbo_alone() -> None:
    _, (row,) = _steps(_config(gan=False), _batch(PRESENT), 1)
    assert row["gan_g"] == 0 and row["disc"] == 0
    assert row["loss"] == pytest.approx(row["recon"] + 0.5 * row["kl"] / (3 * SIZE**2), rel=1e-5)


def test_distortion_and_rate_fall_on_a_fixed_batch() -> None:
    _, logs = _steps(_config(gan=False, beta=1.0), _batch(PRESENT), 15)
    assert logs[-1]["recon"] < 0.95 * logs[0]["recon"]
    assert logs[-1]["kl"] < logs[0]["kl"]
    assert logs[-1]["loss"] < logs[0]["loss"]
    assert all(math.isfinite(v) for row in logs for v in row.values())


def test_the_generator_adversarial_term_falls_against_a_fixed_critic() -> None:
    # the critic never learns (disc_start far away): the generator alone moves gan_g
    config = _config(beta=0.0, gan_weight=10.0, disc_start=10**6)
    _, logs = _steps(config, _batch(PRESENT), 12)
    assert logs[-1]["gan_g"] < logs[0]["gan_g"]
    assert all(row["disc"] == 0 for row in logs)


def test_the_gan_trains_the_decoder_of_a_modality_no_case_has() -> None:
    present = PRESENT.clone()
    present[:, 3] = False  # flair absent everywhere: only the adversarial term reaches its head
    batch = _batch(present)
    changed = {}
    for gan in (True, False):
        torch.manual_seed(0)
        config = _config(gan=gan)
        nets = build_networks(config, MODALITIES, CPU)
        head = nets.method.net.decoders.heads["flair"]  # type: ignore[union-attr]
        before = [p.detach().clone() for p in head.parameters()]
        train_step(nets, batch, 0, config, LossMeter(CPU.device), CPU)
        changed[gan] = any(
            not torch.equal(a, p) for a, p in zip(before, head.parameters(), strict=True)
        )
    assert changed == {True: True, False: False}


def test_the_critic_of_m_learns_real_m_only_from_cases_that_have_m() -> None:
    torch.manual_seed(0)
    discs = Discriminators(MODALITIES, MICRO)
    critic = CriticLoss(discs)
    present = torch.tensor([[True, False, True, True], [True, True, True, False]])
    real = _batch(present)["images"]
    fakes = torch.rand(6, 4, 1, SIZE, SIZE) * 2 - 1
    base = critic(real, present, fakes)
    # case 0 lacks t1ce and case 1 lacks flair: what their slots hold must not matter ...
    spoiled = real.clone()
    spoiled[0, 1] = torch.rand(1, SIZE, SIZE)
    spoiled[1, 3] = torch.rand(1, SIZE, SIZE)
    torch.testing.assert_close(critic(spoiled, present, fakes), base)
    # ... while the t1ce of case 1 (the only real t1ce) is a real sample of D_t1ce
    other = real.clone()
    other[1, 1] = torch.rand(1, SIZE, SIZE)
    assert not torch.allclose(critic(other, present, fakes), base)


def test_the_pool_gives_every_critic_reals_of_another_case_and_never_a_placeholder() -> None:
    from mmhvae.training.step import RealPool

    pool = RealPool()
    first = _batch(torch.tensor([[True, True, False, True], [True, False, False, True]]), seed=1)
    reals, have = pool.reals(first["images"], first["present"])
    torch.testing.assert_close(have, first["present"])  # nothing pooled yet
    torch.testing.assert_close(reals, first["images"])
    second = _batch(torch.tensor([[False, True, True, False], [True, False, True, False]]), seed=2)
    reals, have = pool.reals(second["images"], second["present"])
    # slot 0 lacks t1 and flair now: the first batch's slot 0 holds them; t1ce of slot 1 was
    # never seen: no real there
    assert have.tolist() == [[True, True, True, True], [True, False, True, True]]
    torch.testing.assert_close(reals[0, 0], first["images"][0, 0])
    torch.testing.assert_close(reals[0, 3], first["images"][0, 3])
    torch.testing.assert_close(reals[0, 1], second["images"][0, 1])  # its own case first
    torch.testing.assert_close(reals[1, 3], first["images"][1, 3])
    again = RealPool()
    again.load(pool.state(), CPU.device)  # a resumed run pools the same images
    third = _batch(torch.zeros(2, 4, dtype=torch.bool), seed=4)
    expected = pool.reals(third["images"], third["present"])
    torch.testing.assert_close(again.reals(third["images"], third["present"]), expected)


def test_a_batch_without_m_still_shows_the_critic_of_m_reals() -> None:
    config = _config()
    torch.manual_seed(0)
    nets = build_networks(config, MODALITIES, CPU)
    meter = LossMeter(CPU.device)
    complete = _batch(torch.ones(3, 4, dtype=torch.bool))
    train_step(nets, complete, 0, config, meter, CPU)
    seen: dict[str, torch.Tensor] = {}
    assert nets.critic is not None
    critic_forward = nets.critic.forward

    def spy(real: torch.Tensor, have: torch.Tensor, fakes: torch.Tensor) -> torch.Tensor:
        seen["real"], seen["have"] = real, have
        return critic_forward(real, have, fakes)

    nets.critic.forward = spy  # type: ignore[method-assign]
    lacking = PRESENT.clone()
    lacking[:, 3] = False  # no case of this batch has flair
    batch = _batch(lacking, seed=3)
    train_step(nets, batch, 1, config, meter, CPU)
    assert seen["have"].all()  # every D_m had reals at this step
    torch.testing.assert_close(seen["real"][:, 3], complete["images"][:, 3])  # pooled flair
    torch.testing.assert_close(seen["real"][lacking], batch["images"][lacking])  # own first


def test_fractional_onsets_reach_the_step_through_progress() -> None:
    config = _config(
        gan_start=10**6, disc_start=10**6, gan_start_fraction=0.5, disc_start_fraction=0.25
    )
    torch.manual_seed(0)
    nets = build_networks(config, MODALITIES, CPU)
    meter = LossMeter(CPU.device)
    batch = _batch(PRESENT)
    early = train_step(nets, batch, 0, config, meter, CPU, flush=True, progress=0.1)
    middle = train_step(nets, batch, 1, config, meter, CPU, flush=True, progress=0.3)
    late = train_step(nets, batch, 2, config, meter, CPU, flush=True, progress=0.6)
    assert early is not None and middle is not None and late is not None
    assert early["disc"] == 0 and early["gan_g"] == 0
    assert middle["disc"] > 0 and middle["gan_g"] == 0
    assert late["disc"] > 0 and late["gan_g"] > 0


def test_the_meter_state_round_trips_mid_window() -> None:
    meter = LossMeter(CPU.device)
    meter.add({"loss": torch.tensor(1.0), "kl": torch.tensor(4.0)})
    meter.add({"loss": torch.tensor(3.0), "kl": torch.tensor(8.0)})
    again = LossMeter(CPU.device)
    again.load(meter.state())
    again.add({"loss": torch.tensor(5.0), "kl": torch.tensor(0.0)})
    assert again.flush(CPU) == pytest.approx({"loss": 3.0, "kl": 4.0})


def test_an_unknown_optimizer_is_refused_with_the_choices() -> None:
    from mmhvae.errors import ConfigError

    with pytest.raises(ConfigError, match="choose one of adam, adamax, adamw"):
        build_networks(_config(optimizer="sgd"), MODALITIES, CPU)
