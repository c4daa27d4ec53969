"""Typed configuration: frozen dataclasses loaded from YAML, unknown keys rejected.

A run is described by one :class:`Config` (data, model, train sections plus the method name).
Named configs (``default``, ``tiny``, ...) are YAML files shipped in ``mmhvae/configs``; a user
file may name one of them as ``base:`` and change some keys. Command-line overrides use dotted
keys (``--set train.lr=1e-3``), parsed with YAML so ``1e-3``, ``true`` and ``[1, 2]`` work.
The resolved config is saved beside the checkpoints, so every run is self-describing.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mmhvae.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation. Geometry is shared by a slice's modalities; intensity is not."""

    enabled: bool = False
    flip_prob: float = 0.5  # left-right flip (the brain is roughly symmetric)
    rotate_deg: float = 10.0  # uniform in [-rotate_deg, rotate_deg]
    scale: float = 0.1  # isotropic zoom in [1 - scale, 1 + scale]
    gamma: float = 0.3  # log-uniform gamma in [exp(-gamma), exp(gamma)], per modality
    bias_field: float = 0.3  # amplitude of a smooth multiplicative field, per modality
    # False: gamma and bias field change only what the encoders read (batch["inputs"]); the
    # images the objective reconstructs keep their intensities (a target's random contrast
    # cannot be predicted from the inputs: it is noise in the loss). True: both (the default
    # until 2026-12-07). Five real-data folds at 10 CPU minutes (RESULTS.md 2026-12-07): the
    # U-Net +0.31 dB pooled with False, better on all five folds; mmhvae +0.09 dB (noise)
    intensity_on_targets: bool = False


@dataclass(frozen=True)
class DataConfig:
    """How a dataset becomes training slices."""

    modalities: tuple[str, ...] = ()  # empty: every modality found in the data, canonical order
    layout: str = ""  # empty: detected
    spacing: float = 0.0  # in-plane resampling to this spacing in mm before cropping; 0: native
    min_brain_fraction: float = 0.05  # slices with less brain (of H*W) are not trained on
    val_cases: int = 1  # cases held out for validation (by case, never by slice)
    cache_dir: str = ""  # empty: RUN/cache
    resample: bool = True  # resample cases whose volumes are on different grids
    # training images stored in 8 bits take the intensity landmarks of the full-precision
    # images of their modality (data/standardise.py); the checkpoint keeps the landmarks and
    # synthesis maps an 8-bit input to them
    standardise_8bit: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture (DESIGN.md section 4). Scales go from the finest (full size) to the coarsest.

    ``channels[i]`` is the width at scale i (side ``image_size / 2**i``); ``latent_channels[i]``
    is the latent group at scale i (0 = no group there); the top group is a vector of
    ``top_latent_dim`` read from the coarsest features by a linear layer.
    """

    spatial_dims: int = 2
    image_size: int = 192
    in_channels: int = 1  # channels of one modality's image (C)
    # 2.5D: the encoders also read this many neighbouring axial slices on each side of the
    # one they synthesise (a modality's input is then (2 * context + 1) * C channels, the
    # slices below, the slice, the slices above; clipped at the volume's first and last
    # slice); the decoders still give the centre slice. 0: one slice (2D)
    context: int = 0
    channels: tuple[int, ...] = (16, 32, 64, 128, 128, 128, 128)
    latent_channels: tuple[int, ...] = (8, 16, 32, 64, 64, 64, 0)
    top_latent_dim: int = 256
    # residual blocks of each modality's encoder: one number for every scale, or one per scale
    # (finest first; 0 at the full-resolution scale leaves just the stem conv there)
    encoder_blocks: int | tuple[int, ...] = 1
    # inverted-residual cells of the shared top-down path at each scale (finest first): few at
    # the costly fine scales, more at the coarse ones where they are cheap
    topdown_cells: tuple[int, ...] = (0, 1, 2, 5, 5, 5, 6)
    cell_expansion: int = 6  # width factor inside a top-down cell (NVAE's)
    decoder_blocks: int = 2  # residual blocks of each modality's full-resolution head
    # the MMHVAE heads' blocks when they differ from the U-Net's up path (which also reads
    # decoder_blocks, at every scale); None: decoder_blocks
    head_blocks: int | None = None
    se_reduction: int = 4
    disc_channels: int = 32
    disc_layers: int = 3
    # The decoders predict a correction to a floor instead of the image itself: for each given
    # modality its own input (identity), for each missing one the per-voxel polynomial
    # regression of the given ones (methods/regression.py, fitted in closed form on the
    # training slices before the first step). Their last convolutions start at zero, so the
    # untrained model already scores what the regression scores (issue 12's residual path).
    residual_floor: bool = False
    # Scales (0 = full resolution) where each component's given modalities hand their encoder
    # features, averaged over the component's experts, to the top-down state (the skip fusion
    # of HeMIS and U-HVED): an identity path for what an input shows, beside the latent
    # bottleneck. Empty: every feature passes through the latent groups (DESIGN.md's model).
    fused_skips: tuple[int, ...] = ()
    # how a row's experts combine there: "mean" (HeMIS / U-HVED's average) or "weighted" (each
    # expert's conv also gives a per-voxel, per-channel log-weight: a softmax over the row's
    # experts, so a voxel can follow the input that shows it best)
    fusion: str = "mean"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and schedules. Step counts are optimiser steps (one batch each)."""

    steps: int = 20000
    batch_size: int = 16  # global batch: split across DDP ranks
    lr: float = 1e-3  # generator (Adamax, as the authors)
    lr_disc: float = 2e-4  # discriminators (Adam)
    optimizer: str = "adamax"
    cosine: bool = True  # cosine decay to lr_min_factor * lr after warm-up
    lr_warmup_steps: int = 200
    lr_min_factor: float = 0.05
    components: int = 3  # K subsets sampled per example and step
    # how the K components are drawn from the observed set O: "anchored" = O, one single
    # modality, then subsets uniform over the non-empty subsets of O (the authors' estimator);
    # "uniform" = every component uniform over the non-empty subsets (DESIGN.md's pi)
    mixture: str = "anchored"
    beta: float = 1.0  # KL weight after warm-up, on the KL per reconstructed voxel (elbo.py)
    kl_warmup_steps: int = 2000
    # the std factor of the training step's posterior samples (1: the ELBO's reparameterised
    # sample; 0: the posterior mean, a regularised autoencoder); synthesis has its own
    # (sampling.temperature)
    posterior_temperature: float = 1.0
    gan: bool = True
    # weight of the adversarial term, a mean over modalities (0.2 = the 0.05 per modality of
    # the earlier sum, with four modalities)
    gan_weight: float = 0.2
    gan_start: int = 2000  # first step with the generator's adversarial term
    disc_start: int = 1000  # first step the discriminators learn
    # > 0: the onsets are these fractions of the run instead (of train.steps, or of the
    # wall-clock budget when it ends the run first), so budgeted runs reach them too
    gan_start_fraction: float = 0.0
    disc_start_fraction: float = 0.0
    grad_clip: float = 200.0
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # on CUDA only
    seed: int = 0
    num_workers: int = 2
    log_every: int = 25
    val_every: int = 500
    image_every: int = 1000
    checkpoint_every: int = 1000
    val_slices: int = 32
    # minutes of training after which the run stops cleanly (checkpoint + final validation)
    # after the current step, so methods can be compared at equal wall-clock cost; 0: no budget
    time_budget_minutes: float = 0.0
    # fine-tuning: a run folder, checkpoint or shipped model (e.g. "brats-tiny") whose weights
    # start this run instead of a random initialisation (training/init.py); the method, the
    # model settings and the modalities must be the ones it was trained with. "": none
    init_from: str = ""


@dataclass(frozen=True)
class SamplingConfig:
    """How a trained run samples: validation, training images, synthesis and evaluation all
    start from these values (``methods.sampling.SamplingOptions``); the CLI overrides them."""

    temperature: float = 0.7  # posterior std factor at every latent group (0: the mean path)
    samples: int = 1  # draws per output; more than one adds a per-voxel std map
    seed: int = 0
    batch_size: int = 32  # slices per synthesis call


@dataclass(frozen=True)
class Config:
    method: str = "mmhvae"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


T = TypeVar("T")


def named_configs() -> list[str]:
    """Names of the configs shipped with the package (``default``, ``tiny``, ...)."""
    files = resources.files("mmhvae") / "configs"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str = "default", overrides: Sequence[str] = ()) -> Config:
    """Resolve a named config or a YAML file, then apply ``key=value`` overrides."""
    return config_from(_read_yaml_chain(name_or_path, seen=()), overrides)


def config_from(raw: Mapping[str, Any], overrides: Sequence[str] = ()) -> Config:
    """A config from its dict form (a YAML file's, a checkpoint's ``config``) with
    ``key=value`` overrides applied; ``raw`` is not changed."""
    plain: dict[str, Any] = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. train.lr=1e-3")
        _set_dotted(plain, key.strip(), yaml.safe_load(value))
    return from_dict(Config, migrate_legacy(plain))


def migrate_legacy(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Configs written by earlier versions, in today's keys: ``train.temperature`` (before the
    ``sampling`` section existed) becomes ``sampling.temperature``."""
    raw = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    train = raw.get("train")
    if isinstance(train, dict) and "temperature" in train:
        sampling = raw.setdefault("sampling", {})
        if isinstance(sampling, dict):
            sampling.setdefault("temperature", train.pop("temperature"))
    return raw


def require_slices(config: Config, where: str = "") -> None:
    """Refuse a config the pipeline cannot run end to end: data/, training/ and synthesis/
    work on 2D axial slices; the dimension-agnostic layers of model/ build 3D networks, but
    nothing feeds them volumes yet. ``where`` prefixes the message (e.g. a checkpoint)."""
    dims = config.model.spatial_dims
    if dims != 2:
        raise ConfigError(
            f"{where}model.spatial_dims={dims}: not supported yet (only 2: the data pipeline, "
            "training and synthesis work on 2D axial slices; 3D is not wired end to end)"
        )


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict (tuples as lists), ready for YAML."""
    return _plain(dataclasses.asdict(config))


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def from_dict(cls: type[T], raw: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``raw``; unknown keys and wrong types raise ConfigError."""
    raw = dict(raw or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f"unknown config key {where}{unknown[0]!r} (known: {known})")
    values = {name: _coerce(hints[name], value, f"{where}{name}") for name, value in raw.items()}
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {where!r}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where + ".")  # type: ignore[arg-type]
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {where!r}: expected a list, got {value!r}")
        (item_type, _) = typing.get_args(tp)
        return tuple(_coerce(item_type, v, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(typing.get_args(tp), value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {where!r}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key {where!r}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                message = f"config key {where!r}: expected a number, got {value!r}"
                raise ConfigError(message) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {where!r}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if value is None:
            return ""
        return str(value)
    return value


def _coerce_union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    """``int | None``, ``int | tuple[int, ...]``: None where allowed, else the first option
    that takes the value (a list goes to the tuple option, a number to the int one)."""
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"config key {where!r}: a value is required")
    for option in options:
        if option is type(None) or (typing.get_origin(option) is tuple) != isinstance(
            value, (list, tuple, str)
        ):
            continue
        try:
            return _coerce(option, value, where)
        except ConfigError:
            pass
    names = " or ".join("null" if o is type(None) else _type_name(o) for o in options)
    raise ConfigError(f"config key {where!r}: expected {names}, got {value!r}")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"a list ({_type_name(typing.get_args(tp)[0])} each)"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp)
    )


def _read_yaml_chain(name_or_path: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if name_or_path in seen:
        raise ConfigError(f"config {name_or_path!r}: 'base:' chain loops ({' -> '.join(seen)})")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path}: not found")
        text = path.read_text()
    elif name_or_path in named_configs():
        text = (resources.files("mmhvae") / "configs" / f"{name_or_path}.yaml").read_text()
    else:
        raise ConfigError(
            f"config {name_or_path!r}: neither a YAML file nor a named config "
            f"({', '.join(named_configs())})"
        )
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config {name_or_path}: invalid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {name_or_path}: expected a mapping at the top level")
    base = raw.pop("base", None)
    if base is None:
        return raw
    merged = _read_yaml_chain(str(base), seen + (name_or_path,))
    _deep_update(merged, raw)
    return merged


def _deep_update(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
