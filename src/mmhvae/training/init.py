"""Fine-tuning: start a run from the weights of a trained method instead of a random draw.

``train.init_from`` names a run folder, a checkpoint or a shipped model (``brats-tiny``). Only
the method's weights are taken (the generator: encoders, top-down path, decoders, and the
closed-form floor, which the run refits on its own data); optimisers, discriminators, the
step and the schedules start afresh, so the warm-ups run again. A user with a few cases of a
new site starts from a model trained on many instead of from nothing.
"""

from __future__ import annotations

from dataclasses import replace

from mmhvae.config import Config
from mmhvae.errors import ConfigError
from mmhvae.methods.base import Method


def starting_point(config: Config) -> tuple[Method, Config, tuple[str, ...]] | None:
    """The method named by ``config.train.init_from`` (loaded on the CPU, its config and
    modalities), or None when there is none. A bad name or file is a CheckpointError naming it
    (runs.load_method); a model of another method or architecture is a ConfigError."""
    if not config.train.init_from:
        return None
    from mmhvae.runs import load_method

    start = load_method(config.train.init_from, "cpu")
    check_same_model(start[1], config)
    if not start[0].trainable:
        raise ConfigError(
            f"train.init_from={config.train.init_from}: a {config.method!r} model is fitted in "
            "closed form on the run's own data: there is nothing to start from"
        )
    return start


def check_same_model(start: Config, config: Config) -> None:
    """ConfigError (naming ``train.init_from``) unless the starting model is the same method
    with the same model settings as this run: only then do its weights fit."""
    source = config.train.init_from
    if start.method != config.method:
        raise ConfigError(
            f"train.init_from={source}: it is a {start.method!r} model and this run "
            f"trains {config.method!r}; pass --method {start.method} or another model"
        )
    if start.model != config.model:
        differ = [
            f"model.{name}"
            for name in config.model.__dataclass_fields__
            if getattr(start.model, name) != getattr(config.model, name)
        ]
        raise ConfigError(
            f"train.init_from={source}: its architecture differs from this run's in "
            f"{', '.join(differ)}; start from the model's own config (mmhvae train --init "
            "without --config uses it)"
        )


def with_start_modalities(config: Config, modalities: tuple[str, ...]) -> Config:
    """``config`` with ``data.modalities`` set to the starting model's when the user left it
    empty: the run then trains the model's modality slots on whichever of them the data has
    (a dataset of FLAIR and T1ce fine-tunes a four-contrast model)."""
    if config.data.modalities:
        return config
    return replace(config, data=replace(config.data, modalities=tuple(modalities)))


def initialise_from(
    method: Method,
    start: tuple[Method, Config, tuple[str, ...]],
    config: Config,
    modalities: tuple[str, ...],
) -> None:
    """Copy the starting method's weights into ``method`` (this run's, freshly built on the
    data's ``modalities``); ConfigError (naming ``train.init_from``) when the modalities are
    not the model's (:func:`starting_point` has checked the method and the architecture)."""
    start_method, _, start_modalities = start
    if tuple(start_modalities) != tuple(modalities):
        raise ConfigError(
            f"train.init_from={config.train.init_from}: its modalities are "
            f"{', '.join(start_modalities)} and this run's are {', '.join(modalities)}; set "
            "data.modalities to the model's (a case may lack some of them)"
        )
    method.load_state_dict(start_method.state_dict())  # copies onto this run's device
