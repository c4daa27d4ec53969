"""The explicit registry of methods. Add a method: one file in this folder, one line here."""

from __future__ import annotations

from collections.abc import Callable

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.methods.base import Method
from mmhvae.methods.mmhvae import build_mmhvae

Builder = Callable[[Config, tuple[str, ...]], Method]

METHODS: dict[str, Builder] = {
    "mmhvae": build_mmhvae,
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
