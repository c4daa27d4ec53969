"""Ablations of MMHVAE, each removing one ingredient and keeping the rest:

* ``mmhvae-nogan``: no adversarial term and no discriminators (the trainer reads
  ``Method.adversarial``);
* ``mmhvae-nomix``: the posterior of MHVAE (components: O, then single observed modalities;
  no mixture over other subsets) with MMHVAE's training otherwise (``train.components``
  components, the GAN);
* ``mmhvae-flat``: no hierarchy (every spatial latent group off, as MVAE/MMVAE/MoPoE) with
  MMHVAE's components (O, one single, random subsets) and decoder path.
"""

from __future__ import annotations

from torch import Tensor

from mmhvae.config import Config
from mmhvae.methods.base import Objective
from mmhvae.methods.mmhvae import MMHVAEMethod
from mmhvae.methods.subsets import full_and_singles


class NoGANMethod(MMHVAEMethod):
    name = "mmhvae-nogan"
    adversarial = False


class NoMixMethod(MMHVAEMethod):
    name = "mmhvae-nomix"

    def components(self, present: Tensor, k: int) -> Tensor:
        return full_and_singles(present, k)


class FlatMethod(MMHVAEMethod):
    name = "mmhvae-flat"
    flat = True


def build_nogan(config: Config, modalities: tuple[str, ...]) -> NoGANMethod:
    return NoGANMethod(config.model, tuple(modalities), Objective.from_config(config.train))


def build_nomix(config: Config, modalities: tuple[str, ...]) -> NoMixMethod:
    return NoMixMethod(config.model, tuple(modalities), Objective.from_config(config.train))


def build_flat(config: Config, modalities: tuple[str, ...]) -> FlatMethod:
    return FlatMethod(config.model, tuple(modalities), Objective.from_config(config.train))
