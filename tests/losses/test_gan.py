import pytest
import torch

from mmhvae.losses.gan import lsgan_discriminator, lsgan_generator


def test_generator_term_hand_computed() -> None:
    fake = torch.tensor([[1.0, 0.0], [3.0, 1.0]])  # squares of (D - 1): 0, 1, 4, 0
    torch.testing.assert_close(lsgan_generator(fake), torch.tensor(1.25))


def test_discriminator_term_hand_computed_with_missing_reals() -> None:
    real = torch.tensor([[1.0, 3.0], [0.0, 0.0], [100.0, -7.0]])  # (N=3, P=2)
    fake = torch.tensor([[0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])  # mean D^2 = 6 / 6 = 1
    weight = torch.tensor([1.0, 1.0, 0.0])  # the third real image does not exist
    # real half: mean over patches (D - 1)^2 = 2 and 1 -> weighted mean 1.5
    expected = 0.5 * (1.5 + 1.0)
    torch.testing.assert_close(lsgan_discriminator(real, fake, weight), torch.tensor(expected))


def test_discriminator_per_modality_weights_and_no_reals() -> None:
    real = torch.zeros(2, 3, 4)  # (N, M, P): (D - 1)^2 = 1 everywhere
    fake = torch.zeros(5, 3, 4)
    present = torch.tensor([[True, False, True], [False, False, True]])
    torch.testing.assert_close(lsgan_discriminator(real, fake, present), torch.tensor(0.5))
    none = lsgan_discriminator(real, fake + 2.0, torch.zeros(2, 3))
    torch.testing.assert_close(none, torch.tensor(2.0))  # only the fake half: 0.5 * 4
    with pytest.raises(ValueError, match="real_weight"):
        lsgan_discriminator(real, fake, torch.ones(3))


def test_generator_term_is_the_mean_over_modalities() -> None:
    from mmhvae.losses.gan import generator_adversarial

    scores = torch.zeros(3, 4, 5)  # (N, M, P)
    scores[:, 0] = 1.0  # modality 0 scored real: (1 - 1)^2 = 0; the others (0 - 1)^2 = 1
    torch.testing.assert_close(generator_adversarial(scores), torch.tensor(0.75))
