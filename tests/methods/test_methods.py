"""Every registered method on real slices: a few training steps, synthesis from every missing
pattern, clear refusals; and the registry as the CLI shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mmhvae.cli.main import build_parser
from mmhvae.config import Config, ModelConfig
from mmhvae.data.case import load_case
from mmhvae.data.layouts import discover_cases
from mmhvae.data.preprocess import prepare_case
from mmhvae.methods import METHODS, build_method
from mmhvae.methods.subsets import all_subsets, subset_mask

MODALITIES = ("t1", "t1ce", "t2", "flair")
SIZE = 32
MICRO = ModelConfig(
    image_size=SIZE,
    channels=(4, 8, 8),
    latent_channels=(2, 4, 0),
    top_latent_dim=8,
    topdown_cells=(1, 1, 1),
    cell_expansion=2,
    decoder_blocks=1,
)


@pytest.fixture(scope="module")
def real_batch(shared_data: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two axial slices of a real four-contrast case in [-1, 1] (B=2, M=4, C=1, 32, 32),
    the second example with T1 and T2 only; the brain mask (2, 1, 32, 32)."""
    files = next(
        f for f in discover_cases(shared_data / "cases.csv") if f.case_id == "brats-met-00110"
    )
    prepared = prepare_case(load_case(files, MODALITIES), MODALITIES, 96, 2.0)
    brain = prepared.mask.reshape(prepared.mask.shape[0], -1).sum(axis=1)
    middle = int(brain.argmax())
    index = [middle - 4, middle + 4]
    images = torch.from_numpy(prepared.images[:, index]).permute(1, 0, 2, 3)  # (2, M, 96, 96)
    mask = torch.from_numpy(prepared.mask[index])[:, None].float()  # (2, 1, 96, 96)
    images = F.avg_pool2d(images, 3)  # (2, M, 32, 32)
    mask = F.avg_pool2d(mask, 3) > 0.5
    images = torch.where(mask, images * 2 - 1, -1.0)[:, :, None]  # (2, M, 1, 32, 32)
    present = torch.tensor([[True, True, True, True], [True, False, True, False]])
    images[~present] = -1.0
    return images, present, mask


def _method(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_method(Config(method=name, model=MICRO), MODALITIES)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_trains_and_synthesises_every_missing_pattern(name: str, real_batch) -> None:
    images, present, mask = real_batch
    method = _method(name)
    assert method.name == name
    batch = {"images": images, "present": present, "mask": mask}
    if not method.trainable:  # the regression floor: one closed-form pass
        method.fit_closed_form([batch])
    else:
        _fit_a_few_steps(method, batch)

    method.eval()
    patterns = torch.stack([subset_mask(s, 4) for s in all_subsets(4)])  # (15, M)
    batch = images[:1].expand(len(patterns), -1, -1, -1, -1)
    masks = mask[:1].expand(len(patterns), -1, -1, -1)
    result = method.synthesize(batch, patterns, masks, temperature=0.7, n_samples=2)
    assert result.mean.shape == (15, 4, 1, SIZE, SIZE)
    assert result.std is not None and result.std.shape == result.mean.shape
    assert torch.isfinite(result.mean).all() and (result.std >= 0).all()
    assert result.mean.abs().max() <= 1.0
    assert (result.mean[~masks[:, None].expand_as(result.mean)] == -1).all()


def _fit_a_few_steps(method: torch.nn.Module, batch: dict[str, torch.Tensor]) -> None:
    optimiser = torch.optim.Adam(method.parameters(), lr=3e-3)
    recon = []
    for _ in range(6):  # fit one fixed batch: the reconstruction term must go down
        optimiser.zero_grad()
        out = method.losses(batch, step=0)
        (out.distortion + 1e-3 * out.rate).backward()
        optimiser.step()
        recon.append(float(out.distortion.detach()))
        assert torch.isfinite(out.rate) and float(out.rate.detach()) >= 0
        assert out.fakes.shape[1:] == batch["images"].shape[1:]
        assert out.fakes.shape[0] % batch["images"].shape[0] == 0
        assert out.rate_levels.ndim == 1
        torch.testing.assert_close(out.rate_levels.sum(), out.rate)
    assert recon[-1] < recon[0]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_unusable_input_patterns_are_refused_clearly(name: str) -> None:
    method = _method(name)
    with pytest.raises(ValueError, match="at least one present modality"):
        method.check_inputs(torch.tensor([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match=r"present must be \(B, 4\)"):
        method.check_inputs(torch.ones(2, 3, dtype=torch.bool))
    images = torch.zeros(1, 4, 1, SIZE, SIZE)
    mask = torch.ones(1, 1, SIZE, SIZE, dtype=torch.bool)
    with pytest.raises(ValueError, match="at least one present modality"):
        method.synthesize(images, torch.zeros(1, 4, dtype=torch.bool), mask)
    with pytest.raises(ValueError, match="n_samples"):
        method.synthesize(images, torch.ones(1, 4, dtype=torch.bool), mask, 0.7, 0)


def test_cli_lists_exactly_the_registered_methods(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    listed = next(line for line in text.splitlines() if line.startswith("methods:"))
    assert sorted(n.strip() for n in listed.split(":", 1)[1].split(",")) == sorted(METHODS)


def test_variants_share_the_network_and_differ_as_documented() -> None:
    nets = {name: _method(name) for name in ("mmhvae", "mvae", "mmvae", "mopoe", "mmhvae-flat")}
    assert nets["mmhvae"].net.levels == 3  # top + two spatial groups
    for name in ("mvae", "mmvae", "mopoe", "mmhvae-flat"):
        assert nets[name].net.levels == 1, f"{name} must be flat"
        flat_names = {k for k, _ in nets[name].named_parameters()}
        full_names = {k for k, _ in nets["mmhvae"].named_parameters()}
        assert flat_names < full_names  # the same blocks, minus the spatial latent groups
    assert not _method("mmhvae-nogan").adversarial and not _method("regression").adversarial
    assert all(_method(n).adversarial for n in METHODS if n not in ("mmhvae-nogan", "regression"))
    # flat variants build their own config; the shared one keeps its spatial groups
    assert MICRO.latent_channels == (2, 4, 0)
    assert nets["mmhvae-flat"].net.config.latent_channels == (0, 0, 0)
    assert nets["mmhvae"].net.config == MICRO


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_takes_its_objective_from_the_config(name: str) -> None:
    from mmhvae.config import TrainConfig
    from mmhvae.methods.base import Objective

    train = TrainConfig(components=2, beta=0.123, kl_warmup_steps=7, mixture="uniform")
    method = build_method(Config(method=name, model=MICRO, train=train), MODALITIES)
    assert method.objective == Objective.from_config(train)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_seeded_synthesis_ignores_the_global_rng(name: str, real_batch) -> None:
    images, present, mask = real_batch
    method = _method(name)
    if not method.trainable:
        pytest.skip("fitted in closed form: deterministic")
    method.eval()
    given = present.clone()
    given[0] = torch.tensor([True, False, False, True])  # several inputs: MMVAE picks one
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        with torch.no_grad():
            generator = torch.Generator().manual_seed(5)
            out = method.synthesize(images, given, mask, temperature=1.0, generator=generator)
        draws.append(out.mean)
    torch.testing.assert_close(draws[0], draws[1])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_several_input_patterns_at_once_equal_one_call_each(name: str, real_batch) -> None:
    """synthesize_patterns shares work between patterns (MMHVAE's encoders) but must give
    each pattern exactly the numbers of its own call, from its own generator."""
    from mmhvae.methods.base import synthesize_batched, synthesize_batched_patterns
    from mmhvae.methods.sampling import SamplingOptions, seeded

    images, _, mask = real_batch
    method = _method(name)
    if not method.trainable:
        full = torch.ones(2, 4, dtype=torch.bool)
        method.fit_closed_form([{"images": images, "present": full, "mask": mask}])
    method.eval()
    patterns = [subset_mask(s, 4).expand(2, 4) for s in ((0,), (1, 2), (0, 2, 3), (3,))]
    seeds = [3, 4, 5, 6]
    with torch.no_grad():
        alone = [
            method.synthesize(images, p, mask, 0.8, 3, torch.Generator().manual_seed(s))
            for p, s in zip(patterns, seeds, strict=True)
        ]
        together = method.synthesize_patterns(
            images, patterns, mask, 0.8, 3, [torch.Generator().manual_seed(s) for s in seeds]
        )
    for one, joint in zip(alone, together, strict=True):
        torch.testing.assert_close(joint.mean, one.mean, rtol=0, atol=0)
        assert one.std is not None and joint.std is not None
        torch.testing.assert_close(joint.std, one.std, rtol=0, atol=0)
    # the batched loop: pattern p as its own synthesize_batched under a global RNG seeded alike
    options = SamplingOptions(temperature=0.8, samples=1, batch_size=1)
    batched = synthesize_batched_patterns(
        method, images, patterns, mask, options, [torch.Generator().manual_seed(s) for s in seeds]
    )
    for pattern, seed, joint in zip(patterns, seeds, batched, strict=True):
        with seeded(seed, torch.device("cpu")):
            one = synthesize_batched(method, images, pattern, mask, options)
        torch.testing.assert_close(joint.mean, one.mean, rtol=0, atol=0)
    # no pattern at all (the evaluator's case with one modality): nothing, and progress
    # still follows the rows
    seen: list[int] = []
    assert synthesize_batched_patterns(method, images, [], mask, options, [], seen.append) == []
    assert sum(seen) == images.shape[0]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_missing_modalities_do_not_depend_on_reconstructing_the_given(name: str, real_batch):
    """reconstruct_given=False (volume synthesis, the evaluator): the missing modalities'
    numbers are those of a full call, to the bit, and each given slot is its input image
    (-1 outside the brain) with std 0, whatever the method skips computing."""
    images, _, mask = real_batch
    method = _method(name)
    if not method.trainable:
        full = torch.ones(2, 4, dtype=torch.bool)
        method.fit_closed_form([{"images": images, "present": full, "mask": mask}])
    method.eval()
    patterns = [subset_mask(s, 4).expand(2, 4) for s in ((0,), (1, 2), (0, 2, 3))]
    patterns.append(torch.tensor([[True, False, True, False], [False, True, True, False]]))
    seeds = [3, 4, 5, 6]
    calls = {}
    with torch.no_grad():
        for reconstruct in (True, False):
            generators = [torch.Generator().manual_seed(s) for s in seeds]
            calls[reconstruct] = method.synthesize_patterns(
                images, patterns, mask, 0.8, 2, generators, reconstruct_given=reconstruct
            )
    inputs = torch.where(mask[:, None], images, -1.0)
    for pattern, full, lean in zip(patterns, calls[True], calls[False], strict=True):
        assert full.std is not None and lean.std is not None
        for b in range(2):
            for m in range(4):
                if pattern[b, m]:
                    torch.testing.assert_close(lean.mean[b, m], inputs[b, m], rtol=0, atol=0)
                    assert not bool(lean.std[b, m].any())
                else:
                    torch.testing.assert_close(lean.mean[b, m], full.mean[b, m], rtol=0, atol=0)
                    torch.testing.assert_close(lean.std[b, m], full.std[b, m], rtol=0, atol=0)


TRAINED = sorted(n for n in METHODS if n != "regression")  # regression takes no steps


def _loss(method, batch: dict[str, torch.Tensor]) -> float:  # type: ignore[no-untyped-def]
    torch.manual_seed(3)  # the same components and latent draws for every call
    return float(method.losses(batch, step=10_000).loss.detach())


@pytest.mark.parametrize("name", TRAINED)
def test_the_encoders_read_the_inputs_and_the_objective_the_images(name: str, real_batch) -> None:
    """batch["inputs"] (intensity-augmented, data/augment.py) is what a method reads,
    batch["images"] what it reconstructs; without "inputs" it reads the images."""
    images, present, mask = real_batch
    method = _method(name)
    plain = {"images": images, "present": present, "mask": mask}
    brighter = torch.where(images > -1, (images + 0.3).clamp(max=1.0), images)
    base = _loss(method, plain)
    assert _loss(method, {**plain, "inputs": images}) == base
    read = _loss(method, {**plain, "inputs": brighter})  # other inputs, the same targets
    target = _loss(method, {**plain, "images": brighter, "inputs": images})  # other targets
    assert read != base and target != base and read != target
