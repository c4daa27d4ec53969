"""The explicit registry of methods. Add a method: one file in this folder, one line here."""

from __future__ import annotations

from collections.abc import Callable

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.methods.ablations import build_flat, build_nogan, build_nomix
from mmhvae.methods.base import Method
from mmhvae.methods.mhvae import build_mhvae
from mmhvae.methods.mmhvae import build_mmhvae
from mmhvae.methods.mmvae import build_mmvae
from mmhvae.methods.mopoe import build_mopoe
from mmhvae.methods.mvae import build_mvae
from mmhvae.methods.regression import build_regression
from mmhvae.methods.unet import build_unet

Builder = Callable[[Config, tuple[str, ...]], Method]

METHODS: dict[str, Builder] = {
    "mmhvae": build_mmhvae,
    "mvae": build_mvae,
    "mmvae": build_mmvae,
    "mopoe": build_mopoe,
    "mhvae": build_mhvae,
    "unet": build_unet,
    "mmhvae-nogan": build_nogan,
    "mmhvae-nomix": build_nomix,
    "mmhvae-flat": build_flat,
    "regression": build_regression,
}


def build_method(config: Config, modalities: tuple[str, ...]) -> Method:
    """The method named by ``config.method`` for ``modalities`` (ordered canonical names)."""
    try:
        builder = METHODS[config.method]
    except KeyError:
        raise ConfigError(
            f"unknown method {config.method!r} (known: {', '.join(sorted(METHODS))})"
        ) from None
    return builder(config, modalities)
