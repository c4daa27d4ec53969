"""Each method's defining property: what makes MVAE MVAE, MMVAE MMVAE, ... and that each
ablation removes exactly one ingredient of MMHVAE."""

from __future__ import annotations

import pytest
import torch

from mmhvae.config import Config, ModelConfig, TrainConfig
from mmhvae.errors import ConfigError
from mmhvae.losses.elbo import distortion
from mmhvae.methods import build_method
from mmhvae.methods.base import Method
from mmhvae.methods.subsets import all_subsets, subset_mask
from mmhvae.methods.unet import unet_inputs

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
)
# every non-empty subset of 4 modalities, by size: 4 singles, 6 pairs, 4 triples, 1 full
PATTERNS = torch.stack([subset_mask(s, 4) for s in all_subsets(4)])  # (15, M)


def _method(name: str, components: int = 6) -> Method:
    torch.manual_seed(0)
    config = Config(method=name, model=MICRO, train=TrainConfig(components=components))
    return build_method(config, MODALITIES)


def _batch(present: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, m = present.shape
    images = torch.rand(b, m, 1, SIZE, SIZE, generator=g) * 2 - 1
    images = torch.where(present[:, :, None, None, None], images, -1.0)
    return {"images": images, "present": present, "mask": torch.ones(b, 1, SIZE, SIZE).bool()}


def _components(method: Method, present: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return method.components(present, k)  # type: ignore[attr-defined]


def _sizes(components: torch.Tensor) -> set[int]:
    return set(components.sum(dim=-1).flatten().tolist())


FULL = torch.ones(64, 4, dtype=torch.bool)  # 64 complete examples: every subset reachable


def test_mvae_terms_reconstruct_their_own_inputs_only() -> None:
    method = _method("mvae", components=4)
    present = torch.tensor([[True, True, False, True], [False, True, True, False]])
    subsets = _components(method, present, 4)
    # O, every single modality (absent ones drop out as empty), then K - 2 random subsets
    assert subsets.shape == (2, 1 + 4 + 2, 4)
    assert torch.equal(subsets[:, 0], present)
    assert torch.equal(subsets[:, 1:5], torch.eye(4, dtype=torch.bool)[None] & present[:, None])
    weights = method.recon_weights(subsets, present)  # type: ignore[attr-defined]
    assert torch.equal(weights, subsets.transpose(0, 1))  # (K, B, M): own subset, inside O
    batch = _batch(present)
    fixed = subsets.clone()
    method.components = lambda present, k: fixed  # type: ignore[method-assign]
    out = method.losses(batch, step=0)
    decoded = out.fakes.reshape(7, 2, 4, 1, SIZE, SIZE)
    expected = distortion(decoded, batch["images"], fixed.transpose(0, 1))
    torch.testing.assert_close(out.distortion, expected)
    every = distortion(decoded, batch["images"], present[None].expand(7, -1, -1))
    assert not torch.allclose(out.distortion, every)  # and not the cross-reconstructions


def test_mmvae_uses_single_experts_in_training_and_synthesis() -> None:
    method = _method("mmvae")
    subsets = _components(method, FULL, 6)
    assert _sizes(subsets) == {1}  # only unimodal experts
    assert set(subsets.float().argmax(-1).flatten().tolist()) == {0, 1, 2, 3}
    present = torch.tensor([[True, False, True, False]] * 3)
    batch = _batch(present)
    method.eval()
    net = method.net  # type: ignore[attr-defined]
    skips, _ = net.condition(batch["images"], torch.ones_like(present))
    singles = [
        net.draw(skips, torch.eye(4)[m][:, None].expand(4, 3), batch["mask"], 0.0) for m in (0, 2)
    ]
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(12):  # at temperature 0 each draw IS one unimodal posterior's decoding
        x = method.synthesize(batch["images"], present, batch["mask"], 0.0, 1, generator).mean
        for b in range(3):
            match = [i for i, single in enumerate(singles) if torch.allclose(x[b], single[b])]
            assert len(match) == 1
            seen.add(match[0])
    assert seen == {0, 1}  # both experts of S are drawn
    assert not method.deterministic(0.0)


def test_mopoe_components_are_uniform_subsets_of_the_observed_set() -> None:
    method = _method("mopoe", components=8)
    subsets = _components(method, FULL, 8)
    assert subsets.shape == (64, 8, 4) and _sizes(subsets) == {1, 2, 3, 4}
    part = torch.tensor([[True, False, True, False]]).expand(64, -1)
    inside = _components(method, part, 8)
    assert not (inside & ~part[:, None]).any() and inside.any(dim=-1).all()


def test_mhvae_has_two_components_the_observed_set_and_one_single() -> None:
    method = _method("mhvae", components=6)
    subsets = _components(method, FULL, 6)
    assert subsets.shape == (64, 2, 4)  # whatever train.components says
    assert torch.equal(subsets[:, 0], FULL)
    assert _sizes(subsets[:, 1:]) == {1}
    assert method.net.levels == 3  # type: ignore[attr-defined]  # hierarchical


def test_mmhvae_components_are_the_full_set_a_single_and_uniform_subsets() -> None:
    method = _method("mmhvae", components=8)
    subsets = _components(method, FULL, 8)
    assert torch.equal(subsets[:, 0], FULL)
    assert _sizes(subsets[:, 1]) == {1}
    assert _sizes(subsets[:, 2:]) == {1, 2, 3, 4}


def test_each_ablation_removes_exactly_one_ingredient() -> None:
    full = _method("mmhvae", components=8)
    names = {n for n, _ in full.named_parameters()}
    reference = _components(full, FULL, 8, seed=4)

    nogan = _method("mmhvae-nogan", components=8)
    assert not nogan.adversarial and full.adversarial
    assert {n for n, _ in nogan.named_parameters()} == names
    assert torch.equal(_components(nogan, FULL, 8, seed=4), reference)

    nomix = _method("mmhvae-nomix", components=8)
    assert nomix.adversarial and {n for n, _ in nomix.named_parameters()} == names
    mixed = _components(nomix, FULL, 8, seed=4)
    assert mixed.shape == reference.shape and torch.equal(mixed[:, 0], FULL)
    assert _sizes(mixed[:, 1:]) == {1}  # no pairs or triples: no mixture over other subsets

    flat = _method("mmhvae-flat", components=8)
    assert flat.adversarial and flat.net.levels == 1  # type: ignore[attr-defined]
    assert {n for n, _ in flat.named_parameters()} < names
    assert torch.equal(_components(flat, FULL, 8, seed=4), reference)


def test_unet_reads_availability_channels_and_never_absent_images() -> None:
    present = torch.tensor([[True, False, True, False]])
    batch = _batch(present)
    inputs = unet_inputs(batch["images"], present)
    assert inputs.shape == (1, 4 + 4, SIZE, SIZE)
    assert torch.equal(inputs[0, 4:, 0, 0], present[0].float())  # the flags
    assert (inputs[0, [1, 3]] == 0).all()  # absent images zero-filled
    poisoned = torch.where(present[:, :, None, None, None], batch["images"], float("nan"))
    torch.testing.assert_close(unet_inputs(poisoned, present), inputs)
    method = _method("unet").eval()
    a = method.synthesize(batch["images"], present, batch["mask"], 0.7, 3)
    assert a.std is not None and (a.std == 0).all()  # deterministic
    b = method.synthesize(
        batch["images"], torch.tensor([[True, False, False, False]]), batch["mask"]
    )
    assert not torch.allclose(a.mean, b.mean)  # the flags (and inputs) matter


@pytest.mark.parametrize("name", ["unet", "mmhvae", "mmvae"])
def test_with_context_a_method_reads_neighbours_and_gives_the_centre_slice(name: str) -> None:
    """model.context = 1: inputs (B, M, 3, H, W) (slices s - 1, s, s + 1); the loss compares
    with images (B, M, 1, H, W); synthesis gives (B, M, 1, H, W), given modalities as their
    centre slice, and a neighbour of a given modality changes what is synthesised."""
    torch.manual_seed(0)
    config = Config(
        method=name, model=ModelConfig(**{**MICRO.__dict__, "context": 1}),
        train=TrainConfig(components=2, mixture="uniform"),
    )  # fmt: skip
    method = build_method(config, MODALITIES)
    present = torch.tensor([[True, False, True, True], [False, True, False, False]])
    batch = _batch(present)
    g = torch.Generator().manual_seed(3)
    neighbours = torch.rand(2, 4, 2, SIZE, SIZE, generator=g) * 2 - 1
    inputs = torch.cat([neighbours[:, :, :1], batch["images"], neighbours[:, :, 1:]], dim=2)
    inputs = torch.where(present[:, :, None, None, None], inputs, -1.0)
    terms = method.losses({**batch, "inputs": inputs}, step=1)
    assert torch.isfinite(terms.loss)
    terms.loss.backward()
    method.eval()
    out = method.synthesize_patterns(inputs, [present], batch["mask"], 0.0, 1, [None], False)[0]
    assert out.mean.shape == (2, 4, 1, SIZE, SIZE)
    torch.testing.assert_close(out.mean[present], batch["images"][present])
    moved = inputs.clone()
    moved[0, 0, 0] = -moved[0, 0, 0]  # the slice below, of a given modality
    again = method.synthesize_patterns(moved, [present], batch["mask"], 0.0, 1, [None], False)[0]
    assert not torch.allclose(again.mean[0, 1], out.mean[0, 1])
    torch.testing.assert_close(again.mean[1], out.mean[1])  # the other example
    with pytest.raises(ConfigError, match="model.context must be >= 0"):
        build_method(Config(method=name, model=ModelConfig(**{**MICRO.__dict__, "context": -1})),
                     MODALITIES)  # fmt: skip


@pytest.mark.parametrize("name", ["mvae", "mmvae", "mopoe", "mhvae", "mmhvae", "mmhvae-nomix"])
def test_every_training_component_is_a_non_empty_subset_of_the_observed_set(name: str) -> None:
    method = _method(name)
    present = PATTERNS.repeat(4, 1)  # every pattern, 4 times
    subsets = _components(method, present, 6)
    if name != "mvae":  # mvae's absent singles are empty on purpose (zero weight)
        assert subsets.any(dim=-1).all()
    assert not (subsets & ~present[:, None]).any()


def test_the_uniform_mixture_draws_every_component_uniformly() -> None:
    torch.manual_seed(0)
    config = Config(
        method="mmhvae", model=MICRO, train=TrainConfig(components=3, mixture="uniform")
    )
    method = build_method(config, MODALITIES)
    subsets = _components(method, FULL.repeat(40, 1), 3)  # (2560, 3, 4)
    assert not torch.equal(subsets[:, 0], FULL.repeat(40, 1))  # no anchored full set
    counts = torch.bincount(
        (subsets.long() * torch.tensor([1, 2, 4, 8])).sum(-1).flatten(), minlength=16
    )
    assert counts[0] == 0  # never empty
    frequency = counts[1:].float() / counts[1:].sum()
    assert (frequency - 1 / 15).abs().max() < 0.02  # each of the 15 subsets ~ 1/15


def test_an_unknown_mixture_is_a_config_error() -> None:
    from mmhvae.errors import ConfigError

    with pytest.raises(ConfigError, match="train.mixture"):
        build_method(Config(model=MICRO, train=TrainConfig(mixture="nope")), MODALITIES)


def test_unet_training_row_k_b_reads_example_b_with_subset_k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mmhvae.methods.unet as unet_module

    present = torch.tensor([[True, True, True, False], [False, True, True, True]])
    subsets = torch.tensor(  # (B, K, M), every subset distinct
        [
            [[True, False, False, False], [False, True, True, False]],
            [[False, False, False, True], [False, True, False, True]],
        ]
    )
    monkeypatch.setattr(unet_module, "random_subsets", lambda p, k, generator=None: subsets)
    method = _method("unet", components=2)
    batch = _batch(present)
    seen: list[torch.Tensor] = []
    net_forward = method.net.forward
    method.net.forward = lambda x, mask: seen.append(x) or net_forward(x, mask)  # type: ignore[method-assign]
    method.losses(batch, 0)
    (x,) = seen
    for k in range(2):
        for b in range(2):
            row = x[k * 2 + b]
            assert torch.equal(row[4:, 0, 0], subsets[b, k].float())  # the flags of (b, k)
            expected = unet_inputs(batch["images"][b : b + 1], subsets[b, k][None])[0]
            torch.testing.assert_close(row, expected)  # the images of example b
