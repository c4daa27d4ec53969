"""``model.residual_floor``: the decoders correct the regression floor (identity for the given
modalities), so an untrained model IS the floor, every component gets its own subset's floor,
training moves away from it, and the trainer fits it once before the first step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from tests.methods.test_methods import MICRO, MODALITIES, real_batch  # noqa: F401 (fixture)

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.methods import build_method
from mmhvae.methods.regression import RegressionMethod

FLOORED = dataclasses.replace(MICRO, residual_floor=True)


def _floored(name: str = "mmhvae") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_method(Config(method=name, model=FLOORED), MODALITIES)


def _fitted(batch: dict[str, torch.Tensor], name: str = "mmhvae") -> torch.nn.Module:
    method = _floored(name)
    assert method.prefits
    method.prefit([batch])
    return method


def _batch(slices) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    images, _, mask = slices
    return {"images": images, "present": torch.ones(2, 4, dtype=torch.bool), "mask": mask}


def test_an_untrained_model_synthesises_exactly_the_floor(real_batch) -> None:  # noqa: F811
    batch = _batch(real_batch)
    method = _fitted(batch)
    reference = RegressionMethod(MODALITIES)
    reference.fit_closed_form([batch])
    torch.testing.assert_close(method.floor.coef, reference.coef)  # type: ignore[union-attr]
    assert method.floor.coef.abs().sum() > 0  # type: ignore[union-attr]
    images, mask = batch["images"], batch["mask"]
    given = torch.tensor([[True, False, True, False]] * 2)
    method.eval()
    with torch.no_grad():
        out = method.synthesize(images, given, mask, temperature=0.7, n_samples=2).mean
        floor = reference.synthesize(images, given, mask).mean
    torch.testing.assert_close(out[:, [1, 3]], floor[:, [1, 3]])  # missing: the regression
    inside = mask[:, None].expand_as(images)
    kept = torch.where(inside, images, -1.0)
    torch.testing.assert_close(out[:, [0, 2]], kept[:, [0, 2]])  # given: the input itself


def test_each_component_is_decoded_over_its_own_subsets_floor(real_batch) -> None:  # noqa: F811
    batch = _batch(real_batch)
    method = _fitted(batch)
    subsets = torch.tensor([[[True, False, False, False], [False, True, True, True]]] * 2)
    floor = method._component_floor(batch, subsets)  # (K*B, M, C, H, W)
    assert floor is not None and floor.shape == (4, 4, 1, 32, 32)
    images, mask = batch["images"], batch["mask"]
    torch.testing.assert_close(floor[:2, 0], images[:, 0])  # component 0 gives t1
    torch.testing.assert_close(floor[2:, 1:], images[:, 1:])  # component 1 gives the rest
    reference = method.floor.synthesize(  # type: ignore[union-attr]
        images, subsets[:, 0], mask
    ).mean
    torch.testing.assert_close(floor[:2, 1:], reference[:, 1:])  # t1ce, t2, flair from t1


def test_training_moves_away_from_the_floor_and_lowers_the_loss(real_batch) -> None:  # noqa: F811
    batch = _batch(real_batch)
    method = _fitted(batch)
    # plain gradient descent on a fixed problem: small steps must lower the loss (Adam's first
    # steps move every weight by lr whatever its gradient, which overshoots from a floor)
    optimiser = torch.optim.SGD(method.parameters(), lr=0.01)
    coef = method.floor.coef.clone()  # type: ignore[union-attr]
    losses = []
    for step in range(8):
        torch.manual_seed(1)  # the same components and noise each step: a fixed problem
        optimiser.zero_grad()
        out = method.losses(batch, step)
        if step == 0:  # untrained, every component's decoding is its own floor
            torch.manual_seed(1)
            subsets = method.components(batch["present"], method.objective.components)
            floor = method._component_floor(batch, subsets)
            assert floor is not None and out.fakes.shape == floor.shape
            masks = batch["mask"].repeat(method.objective.components, 1, 1, 1)[:, None]
            torch.testing.assert_close(out.fakes, torch.where(masks, floor, -1.0))
        objective = out.distortion + 1e-3 * out.rate
        objective.backward()
        optimiser.step()
        losses.append(float(objective.detach()))
    assert losses[-1] < losses[0]
    torch.testing.assert_close(method.floor.coef, coef)  # the floor stays fixed
    last = method.net.decoders.heads["t2"].body[-1]
    assert last.weight.abs().sum() > 0  # the correction is learnt


def test_without_the_option_nothing_changes(real_batch) -> None:  # noqa: F811
    torch.manual_seed(0)
    plain = build_method(Config(method="mmhvae", model=MICRO), MODALITIES)
    assert not plain.prefits and plain.floor is None
    assert plain._component_floor(_batch(real_batch), torch.ones(2, 1, 4).bool()) is None


def test_mmvae_refuses_the_floor() -> None:
    with pytest.raises(ConfigError, match="residual_floor"):
        _floored("mmvae")


def test_the_trainer_fits_the_floor_before_training(shared_data: Path, tmp_path: Path) -> None:
    from tests.synthesis.tiny_run import COMPLETE, write_manifest

    from mmhvae.cli.main import main
    from mmhvae.runs import load_method

    manifest = write_manifest(shared_data, COMPLETE[:1], tmp_path / "train.csv")
    run = tmp_path / "run"
    sets = [
        "train.steps=2", "train.batch_size=2", "train.val_slices=2", "train.num_workers=0",
        "train.val_every=1000", "train.image_every=1000", "model.image_size=32",
        "data.spacing=8", "model.channels=[4,8,8]", "model.latent_channels=[2,4,0]",
        "model.top_latent_dim=8", "model.topdown_cells=[1,1,1]", "model.encoder_blocks=1",
        "model.fused_skips=[0,1,2]", "model.residual_floor=true",
    ]  # fmt: skip
    argv = ["train", "--data", str(manifest), "--config", "tiny", "--out", str(run)]
    argv += ["--device", "cpu"] + [item for s in sets for item in ("--set", s)]
    assert main(argv) == 0
    method, _, _ = load_method(run, "cpu")
    assert method.floor is not None and method.floor.coef.abs().sum() > 0


def test_the_decoder_heads_read_the_floor(real_batch) -> None:  # noqa: F811
    """Once the last convolution is not zero the correction depends on the floor itself (the
    head sees it beside the state), not only on the latent state: the same state with another
    floor gives another correction."""
    batch = _batch(real_batch)
    method = _fitted(batch)
    torch.manual_seed(3)
    for head in method.net.decoders.heads.values():
        torch.nn.init.normal_(head.body[-1].weight, std=0.1)  # as if trained
    images, present, mask = batch["images"], batch["present"], batch["mask"]
    subsets = torch.tensor([[[True, False, False, False]]] * 2)  # K = 1: t1 alone
    method.eval()
    base = method._component_floor(batch, subsets)
    assert base is not None
    # compared where no clamping at +-1 can happen, inside the brain
    where = mask[:, None].bool().expand_as(base) & (base.abs() < 0.4)
    corrections = []
    with torch.no_grad():
        for scale in (1.0, 1.0, 0.5):
            floor = base * scale
            draws = torch.Generator().manual_seed(0)  # the same latent draws every time
            out = method.net(images, present, subsets, mask, generator=draws, floor=floor)
            decoded = out.decoded.reshape(floor.shape)  # (K, B, ...) -> (K*B, ...)
            corrections.append((decoded - floor)[where])
    torch.testing.assert_close(corrections[0], corrections[1])  # deterministic given the floor
    assert not torch.allclose(corrections[0], corrections[2], atol=1e-4)


def test_with_the_floor_a_component_reconstructs_only_what_it_was_not_given() -> None:
    """A given modality's floor is its own image: its L1 would only pull the heads' correction
    to zero (also where the floor is the regression), so it carries no weight."""
    present = torch.tensor([[True, True, True, False]])
    subsets = torch.tensor([[[True, False, False, False], [True, True, True, True]]])
    floored = _floored().recon_weights(subsets, present)  # (K, B, M)
    assert floored.tolist() == [[[False, True, True, False]], [[False, False, False, False]]]
    torch.manual_seed(0)
    plain = build_method(Config(method="mmhvae", model=MICRO), MODALITIES)
    assert plain.recon_weights(subsets, present).tolist() == [[[True, True, True, False]]] * 2
