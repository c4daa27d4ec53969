"""The regression floor: its features, an exact recovery of a polynomial, and a fit through
the trainer on real cases."""

from __future__ import annotations

from pathlib import Path

import torch

from mmhvae.config import load_config
from mmhvae.methods.regression import RegressionMethod, feature_count, features
from mmhvae.runs import load_method
from mmhvae.training.trainer import fit

MODALITIES = ("t1", "t2", "flair")


def test_features_are_constant_linear_and_every_product() -> None:
    x = torch.tensor([[2.0, 3.0]])
    assert features(x).tolist() == [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
    assert feature_count(2) == 6 and feature_count(4) == 15


def _slices(n: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    """t2 = 0.3 + 0.5 t1 - 0.2 t1^2 exactly; flair = t1 * t2 exactly, inside the brain."""
    g = torch.Generator().manual_seed(seed)
    t1 = torch.rand(n, 1, 12, 12, generator=g) * 2 - 1
    t2 = 0.3 + 0.5 * t1 - 0.2 * t1**2
    flair = t1 * t2
    images = torch.stack([t1, t2, flair], dim=1)  # (B, M, C, H, W)
    mask = torch.zeros(n, 1, 12, 12, dtype=torch.bool)
    mask[..., 2:10, 2:10] = True
    images = torch.where(mask[:, None], images, -1.0)
    return {"images": images, "present": torch.ones(n, 3, dtype=torch.bool), "mask": mask}


def test_a_polynomial_of_the_inputs_is_recovered_exactly() -> None:
    method = RegressionMethod(MODALITIES)
    train = _slices()
    method.fit_closed_form([train, _slices(seed=1)])
    test = _slices(seed=2)
    present = torch.tensor([[True, False, False]]).expand(6, -1)  # t1 only
    out = method.synthesize(test["images"], present, test["mask"], 0.7, 2)
    inside = test["mask"][:, None].expand_as(out.mean)
    torch.testing.assert_close(
        out.mean[:, 1][inside[:, 1]], test["images"][:, 1][inside[:, 1]], atol=1e-4, rtol=0
    )
    assert out.std is not None and (out.std == 0).all()
    assert (out.mean[~inside] == -1).all()
    # from t1 and t2 the product t1 * t2 is a feature: flair is exact too (up to the tiny
    # ridge: here t2 is a function of t1, so the features are collinear)
    both = torch.tensor([[True, True, False]]).expand(6, -1)
    out = method.synthesize(test["images"], both, test["mask"], 0.0).mean
    torch.testing.assert_close(
        out[:, 2][inside[:, 2]], test["images"][:, 2][inside[:, 2]], atol=1e-3, rtol=0
    )


def test_a_pair_never_seen_together_falls_back_to_the_mean() -> None:
    method = RegressionMethod(MODALITIES)
    batch = _slices()
    batch["present"] = torch.tensor([[True, True, False]] * 3 + [[False, False, True]] * 3)
    method.fit_closed_form([batch])
    j = method.subsets.index((0,))
    flair_mean = batch["images"][3:, 2][batch["mask"][3:]].mean()
    torch.testing.assert_close(method.coef[j, 2, 0], flair_mean)
    assert (method.coef[j, 2, 1:] == 0).all()


def test_trains_through_fit_in_one_pass_and_reloads(
    three_cases: Path, quick: list[str], tmp_path: Path
) -> None:
    config = load_config("tiny", [*quick, "method=regression"])
    result = fit(config, three_cases, tmp_path / "run")
    assert result.steps == 0 and result.checkpoint.is_file()
    assert 0 < result.validation["loss"] < 0.2
    method, _, modalities = load_method(tmp_path / "run")
    torch.testing.assert_close(method.coef, result.method.coef)  # type: ignore[union-attr]
    assert modalities == result.method.modalities
