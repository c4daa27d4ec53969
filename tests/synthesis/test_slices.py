"""Slice-batch synthesis: range mappings, batching over brain slices, seeding, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmhvae.methods.sampling import SamplingOptions
from mmhvae.synthesis.slices import (
    brain_slices,
    model_inputs,
    synthesize_slices,
    to_model_range,
    to_unit_range,
)

from .fakes import MeanOfPresent

MODALITIES = ("t1", "t2", "flair")
OPTIONS = SamplingOptions(temperature=0.7, samples=3, seed=5)


def _case(slices: int = 10, size: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.random((3, slices, size, size)).astype(np.float32)
    mask = np.zeros((slices, size, size), dtype=bool)
    mask[2:8, 3:13, 4:12] = True  # slices 0, 1, 8, 9 hold no brain
    return images * mask, mask


def test_model_range_maps_unit_interval_and_marks_background_and_absent() -> None:
    images, mask = _case()
    present = np.array([True, False, True])
    out = to_model_range(images, present, mask)
    np.testing.assert_allclose(out[0][mask], 2 * images[0][mask] - 1, atol=1e-6)
    assert (out[0][~mask] == -1).all()
    assert (out[1] == -1).all()  # absent: -1 whatever it held


def test_unit_range_is_the_inverse_and_zero_outside() -> None:
    x = torch.linspace(-1.5, 1.5, 7).reshape(1, 1, 1, 7)
    mask = torch.tensor([[[[1, 1, 1, 1, 1, 1, 0]]]], dtype=torch.bool)
    y = to_unit_range(x, mask)
    expected = torch.tensor([0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 0.0])
    torch.testing.assert_close(y.flatten(), expected)


def test_only_brain_slices_are_computed_in_batches() -> None:
    images, mask = _case()
    method = MeanOfPresent(MODALITIES)
    out = synthesize_slices(
        method, images, [True, True, False], mask, SamplingOptions(temperature=0.0, batch_size=4)
    )
    assert list(brain_slices(mask)) == [2, 3, 4, 5, 6, 7]
    assert method.calls == [4, 2]
    assert out.std is None and out.mean.shape == images.shape
    assert (out.mean[:, [0, 1, 8, 9]] == 0).all() and (out.mean[:, ~mask] == 0).all()
    # at temperature 0 the fake returns the mean of the present images, in [0, 1] units
    expected = (images[0] + images[1]) / 2
    np.testing.assert_allclose(out.mean[2][mask], expected[mask], atol=1e-6)


def test_seeded_calls_repeat_and_leave_the_global_rng_alone() -> None:
    images, mask = _case()
    method = MeanOfPresent(MODALITIES)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = synthesize_slices(method, images, [True, False, True], mask, OPTIONS)
    assert torch.equal(torch.get_rng_state(), before)
    b = synthesize_slices(method, images, [True, False, True], mask, OPTIONS)
    c = synthesize_slices(
        method, images, [True, False, True], mask, dataclasses.replace(OPTIONS, seed=6)
    )
    np.testing.assert_array_equal(a.mean, b.mean)
    assert a.std is not None and c.std is not None
    assert not np.array_equal(a.std, c.std)
    assert (a.std[:, ~mask] == 0).all() and a.std.max() <= 0.5  # half the [-1, 1] spread


@pytest.mark.parametrize("present", [[False, False, False], [True, True]])
def test_bad_present_vectors_are_refused(present: list[bool]) -> None:
    images, mask = _case()
    with pytest.raises(ValueError):
        synthesize_slices(MeanOfPresent(MODALITIES), images, present, mask, SamplingOptions())


def test_model_inputs_stack_each_slice_with_its_neighbours() -> None:
    images, mask = _case()
    given = np.array([True, False, True])
    selected = brain_slices(mask)
    plain = to_model_range(images, given, mask)  # (M, S, H, W)
    alone = model_inputs(images, given, mask, selected, 0)
    np.testing.assert_array_equal(alone, plain[:, selected].transpose(1, 0, 2, 3)[:, :, None])
    stacked = model_inputs(images, given, mask, selected, 2)  # (N, M, 5, H, W)
    assert stacked.shape == (len(selected), 3, 5, 16, 16)
    for n, s in enumerate(selected):
        for j, z in enumerate(range(s - 2, s + 3)):
            z = min(max(z, 0), mask.shape[0] - 1)  # clipped at the volume's ends
            np.testing.assert_array_equal(stacked[n, :, j], plain[:, z])


def test_a_method_with_context_reads_its_neighbours_and_no_further() -> None:
    """MMHVAE with model.context = 1 through synthesize_slices: slice s's synthesis changes
    with slice s + 1 of a given modality and not with slice s + 2; a given modality comes
    back as its own slice s (the centre of what the encoders read)."""
    from mmhvae.config import ModelConfig
    from mmhvae.methods.mmhvae import MMHVAEMethod

    config = ModelConfig(
        image_size=16, channels=(4, 8), latent_channels=(2, 0), top_latent_dim=4,
        topdown_cells=(1, 1), cell_expansion=2, decoder_blocks=1, context=1,
        fused_skips=(0,),
    )  # fmt: skip
    torch.manual_seed(0)
    method = MMHVAEMethod(config, MODALITIES)
    images, mask = _case()
    present = [True, False, True]
    options = SamplingOptions(temperature=0.0, batch_size=4)
    base = synthesize_slices(method, images, present, mask, options).mean
    np.testing.assert_allclose(base[0][mask], images[0][mask], atol=1e-6)  # given: itself
    np.testing.assert_allclose(base[2][mask], images[2][mask], atol=1e-6)
    far, near = images.copy(), images.copy()
    far[0, 6] = np.where(mask[6], 1.0 - far[0, 6], 0.0)
    near[0, 5] = np.where(mask[5], 1.0 - near[0, 5], 0.0)
    moved_far = synthesize_slices(method, far, present, mask, options).mean
    moved_near = synthesize_slices(method, near, present, mask, options).mean
    np.testing.assert_array_equal(moved_far[1, 4], base[1, 4])  # slice 6 is two away from 4
    assert np.abs(moved_near[1, 4] - base[1, 4]).max() > 1e-4  # slice 5 is its neighbour
    assert method.net.encoders["t1"].stem.weight.shape[1] == 3  # (2 * context + 1) * C
