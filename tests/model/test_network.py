import dataclasses

import pytest
import torch
from torch import nn

from mmhvae.config import Config, ModelConfig, load_config
from mmhvae.errors import ConfigError
from mmhvae.methods import build_method
from mmhvae.methods.mmhvae import MMHVAEMethod
from mmhvae.methods.subsets import all_subsets, sample_subsets, subset_mask
from mmhvae.model.decoder import DecoderHead, Decoders
from mmhvae.model.layers import ResidualBlock
from mmhvae.model.network import MMHVAE

MODALITIES = ("t1", "t1ce", "t2", "flair")
SMALL = ModelConfig(
    image_size=32,
    channels=(4, 8, 8, 8),
    latent_channels=(2, 4, 4, 0),
    top_latent_dim=8,
    topdown_cells=(1, 1, 1, 1),
    cell_expansion=2,
    decoder_blocks=1,
)
# the same with the inputs' skip features fused into the state at the finest and a middle scale
FUSED = dataclasses.replace(SMALL, fused_skips=(0, 2))
WEIGHTED = dataclasses.replace(FUSED, fusion="weighted")


def _batch(config: ModelConfig, present: torch.Tensor, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b, m = present.shape
    space = (config.image_size,) * config.spatial_dims
    images = torch.rand(b, m, 1, *space, generator=g) * 2 - 1
    images = torch.where(present.reshape(b, m, *([1] * (config.spatial_dims + 1))), images, -1.0)
    mask = torch.ones(b, 1, *space, dtype=torch.bool)
    mask[..., :3] = False  # a background strip
    return images, mask


def _every_pattern(m: int) -> torch.Tensor:
    return torch.stack([subset_mask(s, m) for s in all_subsets(m)])  # (2^M - 1, M)


def test_shapes_and_range_for_every_missing_pattern() -> None:
    torch.manual_seed(0)
    net = MMHVAE(SMALL, MODALITIES)
    present = _every_pattern(4)  # 15 patterns in one batch
    images, mask = _batch(SMALL, present)
    subsets = sample_subsets(present, 3, torch.Generator().manual_seed(0))
    out = net(images, present, subsets, mask)
    assert out.decoded.shape == (3, 15, 4, 1, 32, 32)
    assert out.kl.shape == (net.levels,) == (3 + 1,)
    assert out.kl_examples.shape == (3, 15, net.levels)
    torch.testing.assert_close(out.kl, out.kl_examples.mean(dim=(0, 1)))
    assert (out.kl_examples >= 0).all()
    assert out.decoded.abs().max() <= 1.0
    assert (out.decoded[..., :3] == -1).all(), "background is -1"
    assert (out.decoded[..., 3:] > -1).any()


@pytest.mark.parametrize("config", [SMALL, FUSED, WEIGHTED], ids=["latent", "fused", "weighted"])
def test_absent_images_are_ignored_whatever_they_hold(config: ModelConfig) -> None:
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES)
    present = torch.tensor([[True, False, True, False], [False, False, False, True]])
    images, mask = _batch(config, present)
    noisy = torch.where(present[:, :, None, None, None], images, torch.randn_like(images))
    subsets = sample_subsets(present, 3, torch.Generator().manual_seed(1))
    a = net(images, present, subsets, mask, generator=torch.Generator().manual_seed(2))
    b = net(noisy, present, subsets, mask, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.decoded, b.decoded)
    torch.testing.assert_close(a.kl, b.kl)


@pytest.mark.parametrize("config", [SMALL, FUSED, WEIGHTED], ids=["latent", "fused", "weighted"])
def test_gradients_reach_exactly_the_input_encoders(config: ModelConfig) -> None:
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES)
    present = torch.tensor([[True, False, False, False], [False, False, True, False]])
    images, mask = _batch(config, present)
    out = net(images, present, sample_subsets(present, 3), mask)
    (out.decoded.square().mean() + out.kl.sum()).backward()
    for m, encoder in net.encoders.items():
        grads = [p.grad for p in encoder.parameters()]
        total = sum(float(g.abs().sum()) for g in grads if g is not None)
        if m in ("t1", "t2"):
            assert total > 0, m
        else:
            assert total == 0, m
    assert all(p.grad is not None for p in net.decoders.parameters())


@pytest.mark.parametrize("config", [SMALL, FUSED, WEIGHTED], ids=["latent", "fused", "weighted"])
def test_encoders_skip_absent_rows_without_changing_the_pass(config: ModelConfig) -> None:
    """Training on the CPU runs each encoder on the rows that have its modality only
    (``encode_present``): the decoded images, the KL and every gradient are those of running
    every encoder on every row, and an encoder with no row still gets a (zero) gradient for
    every parameter (DDP without find_unused_parameters)."""
    present = torch.tensor(
        [[True, True, True, False], [False, True, False, True], [False, True, True, True]]
    )  # t1ce on every row (its encoder skips nothing), t1 on one, flair and t2 on two
    images, mask = _batch(config, present)
    subsets = sample_subsets(present, 2, torch.Generator().manual_seed(1))
    results = []
    for skip in (True, False):
        torch.manual_seed(0)
        net = MMHVAE(config, MODALITIES)
        if not skip:
            net.encode_present = lambda x, _present, net=net: net.encode(x)  # type: ignore[method-assign]
        out = net(images, present, subsets, mask, generator=torch.Generator().manual_seed(2))
        (out.decoded.square().mean() + out.kl.sum()).backward()
        results.append((out, {k: p.grad for k, p in net.named_parameters()}))
    (a, grads_a), (b, grads_b) = results
    torch.testing.assert_close(a.decoded, b.decoded, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.kl_examples, b.kl_examples, rtol=1e-6, atol=1e-4)
    for name, grad in grads_b.items():
        assert grads_a[name] is not None, name
        # the same sums over fewer rows: float rounding only, relative to the gradient's scale
        assert float((grads_a[name] - grad).abs().max()) <= 1e-5 * float(grad.abs().max()) + 1e-7, (
            name
        )
    alone = present.clone()
    alone[:, 0] = False  # no row has t1
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES)
    out = net(images, alone, sample_subsets(alone, 2), mask)
    (out.decoded.square().mean() + out.kl.sum()).backward()
    assert all(p.grad is not None and not p.grad.any() for p in net.encoders["t1"].parameters())


def test_3d_forward_and_synthesis() -> None:
    torch.manual_seed(0)
    config = dataclasses.replace(
        SMALL,
        spatial_dims=3,
        image_size=8,
        channels=(4, 8),
        latent_channels=(2, 0),
        topdown_cells=(1, 1),
    )
    method = MMHVAEMethod(config, ("t2", "us"))
    present = torch.tensor([[True, True], [False, True]])
    images, mask = _batch(config, present)
    out = method.net(images, present, sample_subsets(present, 2), mask)
    assert out.decoded.shape == (2, 2, 2, 1, 8, 8, 8) and out.kl.shape == (2,)
    syn = method.synthesize(images, present, mask, temperature=0.7, n_samples=2)
    assert syn.mean.shape == (2, 2, 1, 8, 8, 8) and syn.std is not None
    assert syn.std.shape == syn.mean.shape


def test_synthesize_temperature() -> None:
    torch.manual_seed(0)
    net = MMHVAEMethod(SMALL, MODALITIES).eval()
    present = torch.tensor([[False, True, False, True]] * 2)
    images, mask = _batch(SMALL, present)
    cold = net.synthesize(images, present, mask, 0.0, 3, torch.Generator().manual_seed(0))
    assert cold.std is not None and torch.equal(cold.std, torch.zeros_like(cold.mean))
    again = net.synthesize(images, present, mask, 0.0, 1, torch.Generator().manual_seed(9))
    assert again.std is None and torch.equal(again.mean, cold.mean)
    stds = []
    for temperature in (0.2, 1.0):
        syn = net.synthesize(
            images, present, mask, temperature, 6, torch.Generator().manual_seed(1)
        )
        assert syn.std is not None and (syn.std[..., :3] == 0).all(), "background is always -1"
        stds.append(float(syn.std.mean()))
    assert 0 < stds[0] < stds[1]


def test_welford_std_matches_stacked_samples() -> None:
    torch.manual_seed(0)
    net = MMHVAEMethod(SMALL, MODALITIES)
    present = torch.tensor([[True, True, False, False]])
    images, mask = _batch(SMALL, present)
    g = torch.Generator().manual_seed(3)
    syn = net.synthesize(images, present, mask, 0.8, 4, g)
    g = torch.Generator().manual_seed(3)
    samples = torch.stack([net.synthesize(images, present, mask, 0.8, 1, g).mean for _ in range(4)])
    torch.testing.assert_close(syn.mean, samples.mean(0))
    assert syn.std is not None
    torch.testing.assert_close(syn.std, samples.std(0, unbiased=False), atol=1e-5, rtol=1e-4)


def test_bf16_autocast_and_channels_last() -> None:
    torch.manual_seed(0)
    net = MMHVAE(SMALL, MODALITIES).to(memory_format=torch.channels_last)
    present = torch.tensor([[True, False, True, True]])
    images, mask = _batch(SMALL, present)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(images, present, sample_subsets(present, 3), mask)
        loss = out.decoded.float().abs().mean() + out.kl.sum()
    loss.backward()
    assert torch.isfinite(out.decoded.float()).all() and torch.isfinite(out.kl).all()


def test_bad_architecture_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="image_size"):
        MMHVAE(dataclasses.replace(SMALL, image_size=36), MODALITIES)
    with pytest.raises(ConfigError, match="latent_channels"):
        MMHVAE(dataclasses.replace(SMALL, latent_channels=(2, 4)), MODALITIES)
    with pytest.raises(ConfigError, match="spatial_dims"):
        MMHVAE(dataclasses.replace(SMALL, spatial_dims=1), MODALITIES)
    with pytest.raises(ConfigError, match="context"):
        MMHVAE(dataclasses.replace(SMALL, context=-1), MODALITIES)
    with pytest.raises(ConfigError, match="residual_floor"):
        MMHVAE(dataclasses.replace(SMALL, context=1, residual_floor=True), MODALITIES)
    with pytest.raises(ConfigError, match="spatial_dims=2"):
        MMHVAE(dataclasses.replace(SMALL, context=1, spatial_dims=3, image_size=16), MODALITIES)


def test_encoder_blocks_per_scale_and_head_blocks_build_what_they_say() -> None:
    lean = dataclasses.replace(SMALL, encoder_blocks=(0, 2, 1, 1), head_blocks=0)
    net = MMHVAE(lean, MODALITIES)
    encoder = net.encoders["t1"]
    assert [len(stage) for stage in encoder.stages] == [0, 2, 1, 1]
    blocks = [m for m in net.decoders.heads["t1"].body if isinstance(m, ResidualBlock)]
    assert blocks == []  # head_blocks=0: norm, SiLU and the output conv only
    present = _every_pattern(len(MODALITIES))
    images, mask = _batch(lean, present)
    out = net(images, present, present[:, None], mask)
    assert out.decoded.shape == (1, len(present), len(MODALITIES), 1, 32, 32)
    # head_blocks leaves the U-Net's up path (which reads decoder_blocks) as it was
    unet = build_method(Config(method="unet", model=lean), MODALITIES)
    same = build_method(Config(method="unet", model=SMALL), MODALITIES)
    assert sum(p.numel() for p in unet.parameters()) == sum(p.numel() for p in same.parameters())
    with pytest.raises(ConfigError, match="encoder_blocks"):
        MMHVAE(dataclasses.replace(SMALL, encoder_blocks=(1, 1)), MODALITIES)
    with pytest.raises(ConfigError, match=">= 0"):
        MMHVAE(dataclasses.replace(SMALL, head_blocks=-1), MODALITIES)


def test_default_architecture_size_and_every_input_subset() -> None:
    config = load_config("default").model
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES).eval()
    parameters = sum(p.numel() for p in net.parameters())
    # DESIGN.md section 4: about 13.8 M with four modalities; pinned, so that a changed
    # layer (a 3x3 where a 1x1 belongs, another SE width) shows
    assert parameters == 13_784_492, parameters
    assert net.levels == 7
    present = torch.ones(1, 4, dtype=torch.bool)
    images, mask = _batch(config, present)
    subsets = _every_pattern(4)[None]  # (1, 15, 4): one example, every input subset
    with torch.no_grad():
        out = net(images, present, subsets, mask, temperature=0.7)
    assert out.decoded.shape == (15, 1, 4, 1, 192, 192) and torch.isfinite(out.decoded).all()
    assert torch.isfinite(out.kl).all() and out.kl.shape == (7,)


@pytest.mark.parametrize("config", [SMALL, FUSED, WEIGHTED], ids=["latent", "fused", "weighted"])
def test_one_pattern_fast_path_equals_the_masked_product(config: ModelConfig) -> None:
    """A batch sharing one input pattern runs only the given encoders; the result must equal
    the general path (every encoder, zero-precision experts), which a mixed batch takes."""
    torch.manual_seed(0)
    net = MMHVAEMethod(config, MODALITIES).eval()
    pattern = torch.tensor([[True, False, True, False]])
    uniform = pattern.expand(2, -1)
    images, mask = _batch(config, uniform)
    mixed = torch.cat([uniform, torch.tensor([[False, True, False, False]])])  # forces masking
    images3 = torch.cat([images, images[:1]])
    mask3 = torch.cat([mask, mask[:1]])
    fast = net.synthesize(images, uniform, mask, temperature=0.0).mean
    general = net.synthesize(images3, mixed, mask3, temperature=0.0).mean[:2]
    torch.testing.assert_close(fast, general, atol=1e-5, rtol=1e-5)


def test_the_smallest_valid_sizes_build_and_below_them_is_refused() -> None:
    import dataclasses

    import pytest

    from mmhvae.errors import ConfigError
    from mmhvae.model.network import check_model_config

    check_model_config(dataclasses.replace(SMALL, top_latent_dim=1))
    with pytest.raises(ConfigError, match="top_latent_dim must be positive"):
        check_model_config(dataclasses.replace(SMALL, top_latent_dim=0))


def test_a_floor_head_without_its_floor_is_refused() -> None:
    head = DecoderHead(dataclasses.replace(SMALL, residual_floor=True))
    h = torch.zeros(2, SMALL.channels[0], 16, 16)
    with pytest.raises(ValueError, match=r"^model\.residual_floor: the decoder head needs"):
        head(h)
    assert head(h, torch.zeros(2, 1, 16, 16)).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("residual_floor", [False, True])
def test_decoding_some_heads_leaves_the_others_at_background(residual_floor: bool) -> None:
    """Decoders(only=...) gives exactly the full decode in the chosen slots and -1 in the
    others: synthesis skips the heads of modalities it was given."""
    config = dataclasses.replace(SMALL, residual_floor=residual_floor)
    torch.manual_seed(0)
    decoders = Decoders(config, ("a", "b", "c"))
    for head in decoders.heads.values():  # the floor's last conv starts at zero: perturb it
        nn.init.normal_(head.body[-1].weight, std=0.1)
    h = torch.randn(2, config.channels[0], 16, 16)
    mask = torch.ones(2, 1, 16, 16, dtype=torch.bool)
    mask[:, :, :3] = False
    floor = torch.rand(2, 3, 1, 16, 16) * 2 - 1 if residual_floor else None
    with torch.no_grad():
        full = decoders(h, mask, floor)
        some = decoders(h, mask, floor, [2, 0])
        none = decoders(h, mask, floor, [])
    torch.testing.assert_close(some[:, [0, 2]], full[:, [0, 2]], rtol=0, atol=0)
    assert bool((some[:, 1] == -1.0).all()) and bool((none == -1.0).all())
    assert none.shape == full.shape


@pytest.mark.parametrize("config", [SMALL, FUSED, WEIGHTED], ids=["latent", "fused", "weighted"])
def test_a_component_reads_only_its_own_subset(config: ModelConfig) -> None:
    """Component k of a row sees the experts of subsets[k] only (through the latent groups and,
    with ``fused_skips``, the fused features): changing a present modality outside the subset
    leaves that component's images unchanged, changing one inside changes them."""
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES).eval()
    present = torch.tensor([[True, True, True, False]])
    images, mask = _batch(config, present)
    subsets = torch.tensor([[[True, False, False, False]]])  # component: t1 alone
    other = images.clone()
    other[:, 2] = torch.rand_like(other[:, 2]) * 2 - 1  # t2: present, not in the subset
    inside = images.clone()
    inside[:, 0] = torch.rand_like(inside[:, 0]) * 2 - 1  # t1: the subset itself
    with torch.no_grad():
        a, b, c = (
            net(x, present, subsets, mask, temperature=0.0).decoded for x in (images, other, inside)
        )
    torch.testing.assert_close(a, b)
    assert float((a - c).abs().max()) > 1e-3


@pytest.mark.parametrize("config", [FUSED, WEIGHTED], ids=["fused", "weighted"])
def test_fused_skips_carry_the_inputs_to_the_state(config: ModelConfig) -> None:
    """With ``fused_skips`` the full-resolution state depends on the fusion convolutions: zeroing
    them changes the images, and the loss reaches their weights."""
    torch.manual_seed(0)
    net = MMHVAE(config, MODALITIES)
    assert sorted(net.topdown.fusions) == ["0", "2"]
    present = torch.tensor([[True, False, True, False]])
    images, mask = _batch(config, present)
    subsets = torch.tensor([[[True, False, True, False]]])
    out = net(images, present, subsets, mask, temperature=0.0)
    out.decoded.square().mean().backward()
    for fusion in net.topdown.fusions.values():
        assert fusion.weight.grad is not None and fusion.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for fusion in net.topdown.fusions.values():
            fusion.weight.zero_()
            fusion.bias.zero_()
        zeroed = net(images, present, subsets, mask, temperature=0.0).decoded
    assert float((out.decoded.detach() - zeroed).abs().max()) > 1e-3


@pytest.mark.parametrize("fused", [(4,), (-1,), (0, 0)])
def test_bad_fused_skips_are_a_config_error(fused: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="model.fused_skips"):
        MMHVAE(dataclasses.replace(SMALL, fused_skips=fused), MODALITIES)
    with pytest.raises(ConfigError, match="model.fusion 'max'"):
        MMHVAE(dataclasses.replace(FUSED, fusion="max"), MODALITIES)
