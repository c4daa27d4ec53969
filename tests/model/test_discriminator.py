import torch

from mmhvae.config import ModelConfig
from mmhvae.model.discriminator import Discriminators


def test_patch_scores_per_modality_2d() -> None:
    torch.manual_seed(0)
    discs = Discriminators(("t1", "t2", "us"), ModelConfig(disc_channels=8, disc_layers=3))
    images = torch.randn(2, 3, 1, 64, 64, requires_grad=True)
    scores = discs(images)
    # three stride-2 4x4 convs: 64 -> 32 -> 16 -> 8; two stride-1 4x4 convs: 8 -> 7 -> 6
    assert scores.shape == (2, 3, 36)
    scores[:, 1].sum().backward()  # modality 1's scores only see modality 1's images
    assert images.grad is not None
    assert images.grad[:, 1].abs().sum() > 0
    assert images.grad[:, [0, 2]].abs().sum() == 0
    assert set(discs.nets) == {"t1", "t2", "us"}


def test_patch_scores_3d() -> None:
    discs = Discriminators(("t2",), ModelConfig(spatial_dims=3, disc_channels=4, disc_layers=2))
    scores = discs(torch.randn(1, 1, 1, 16, 16, 16))
    # two stride-2 convs: 16 -> 8 -> 4; stride-1 4x4 convs: 4 -> 3 -> 2
    assert scores.shape == (1, 1, 2**3)
