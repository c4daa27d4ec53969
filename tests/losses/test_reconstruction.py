import torch

from mmhvae.losses.reconstruction import l1_observed


def test_l1_hand_computed() -> None:
    target = torch.zeros(2, 2, 1, 2, 2)  # (B, M, C, H, W)
    decoded = torch.zeros(3, 2, 2, 1, 2, 2)  # (K, B, M, C, H, W)
    decoded[0, 0, 0] = 1.0  # error 1 on an observed modality
    decoded[1, 1, 1, 0, 0, 0] = 4.0  # error 1 (mean of 4, 0, 0, 0) on an observed modality
    present = torch.tensor([[True, False], [True, True]])
    # 3 observed (b, m) pairs x 3 components; total error 2
    torch.testing.assert_close(l1_observed(decoded, target, present), torch.tensor(2.0 / 9.0))


def test_absent_modalities_are_ignored() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 4, 1, 5, 5, generator=g)
    decoded = torch.rand(2, 3, 4, 1, 5, 5, generator=g)
    present = torch.tensor([[True, False, True, False], [False, True, False, False], [True] * 4])
    base = l1_observed(decoded, target, present)
    spoiled_target = torch.where(present[:, :, None, None, None], target, 100.0)
    spoiled_decoded = torch.where(present[None, :, :, None, None, None], decoded, -100.0)
    torch.testing.assert_close(l1_observed(spoiled_decoded, spoiled_target, present), base)
    errors = (decoded - target).abs().mean(dim=(3, 4, 5))  # (K, B, M)
    torch.testing.assert_close(base, errors[:, present].mean())
