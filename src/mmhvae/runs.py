"""The run folder: the one place that names its files and reads and writes their schema.

Training writes a run folder; synthesis, evaluation and the experiments read it through this
module only (they never import training)::

    RUN/config.yaml               the resolved Config (``write_config``)
    RUN/run.yaml                  the run record: training data and modalities
    RUN/checkpoints/last.pt       the newest checkpoint (``RunFolder.last``)
    RUN/checkpoints/best.pt       the best validation loss so far (``RunFolder.best``)
    RUN/losses.csv, RUN/validation.csv, RUN/images/, RUN/tensorboard/   logs (training/logs.py)

Checkpoints are self-describing: weights + resolved config + modalities + training state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that
``torch.load(path, weights_only=True)`` reads it (no pickled classes, no code execution).
Keys:

    format         int, CHECKPOINT_FORMAT
    method         str, the registered method name
    modalities     list[str], the ordered canonical modalities the method was built for
    config         dict, the resolved Config (``config_to_dict``)
    step           int, the number of optimiser steps done (the next step's index)
    method_state   the Method's state_dict
    disc_state     the Discriminators' state_dict (empty dict for methods without)
    opt_g, opt_d   the optimisers' state_dicts
    rng            dict of RNG states (torch, cuda, numpy, python)
    extra          dict, trainer bookkeeping (best validation loss, log accumulators, ...)
    checksum       str, sha256 over every other key's content (:func:`state_digest`), added
                   by :func:`save_checkpoint` and verified by :func:`load_checkpoint`

Synthesis needs only the path: :func:`load_method` rebuilds the method from the stored
config and modalities.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from mmhvae.config import Config, config_to_dict, from_dict, migrate_legacy, require_slices
from mmhvae.errors import CheckpointError, ConfigError
from mmhvae.files import atomic_path, write_bytes_atomic

if TYPE_CHECKING:  # importing mmhvae.methods loads every method: only when needed
    from mmhvae.methods.base import Method

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "method", "modalities", "config", "step", "method_state")
CHECKSUM_KEY = "checksum"
NOT_CHECKPOINT = "not a valid mmhvae checkpoint"


def state_digest(state: Any) -> str:
    """sha256 over the content of a checkpoint state (keys sorted, tensors as raw bytes).

    Computed on the values, not the file, so the same state always gives the same digest
    and a flipped bit in any tensor or number changes it.
    """
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, dict):
            digest.update(b"d%d" % len(value))
            for key in sorted(value, key=repr):
                digest.update(repr(key).encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            digest.update(b"l%d" % len(value))
            for item in value:
                feed(item)
        elif isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"t{value.dtype}{tuple(value.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
        else:
            digest.update(f"{type(value).__name__}:{value!r}".encode())

    feed({k: v for k, v in state.items() if k != CHECKSUM_KEY})
    return digest.hexdigest()


def _non_finite(state: dict[str, Any]) -> str | None:
    """The first stored tensor with NaN or inf values (weights, optimiser, extra), or None."""

    def walk(value: Any, where: str) -> str | None:
        if isinstance(value, dict):
            for key, item in value.items():
                found = walk(item, f"{where}.{key}" if where else str(key))
                if found:
                    return found
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                found = walk(item, f"{where}[{index}]")
                if found:
                    return found
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            if not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                return f"{where} ({bad} of {value.numel()} values)"
        return None

    return walk({k: v for k, v in state.items() if k != "rng"}, "")


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder (nothing is created or read by building one)."""

    path: Path

    checkpoint_dir = "checkpoints"
    # what training writes (output_folder patterns): ``train --overwrite`` deletes these files
    # and nothing else, so a file of the user's in checkpoints/ survives
    outputs = (
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "checkpoints/*.pt.sha256",
        "tensorboard/events.out.tfevents.*",
        "images/step_[0-9]*.png",
        "losses.csv",
        "validation.csv",
        "config.yaml",
        "run.yaml",
    )

    @property
    def last(self) -> Path:
        return self.path / self.checkpoint_dir / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / self.checkpoint_dir / "best.pt"

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def record(self) -> Path:
        return self.path / "run.yaml"

    @property
    def losses(self) -> Path:
        return self.path / "losses.csv"

    @property
    def validation(self) -> Path:
        return self.path / "validation.csv"

    @property
    def images(self) -> Path:
        return self.path / "images"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @classmethod
    def of(cls, run_dir_or_checkpoint: str | Path) -> RunFolder:
        """The run a folder is, or the run a ``RUN/checkpoints/x.pt`` file belongs to."""
        path = Path(run_dir_or_checkpoint)
        if path.is_file() and path.parent.name == cls.checkpoint_dir:
            return cls(path.parent.parent)
        return cls(path)

    def write_config(self, config: Config) -> None:
        """The resolved config as YAML, atomically."""
        text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
        write_bytes_atomic(self.config, text.encode())

    def write_record(self, data: str | Path, modalities: tuple[str, ...]) -> None:
        """Where the run learnt from: evaluation derives the copy reference from these cases."""
        record = {"data": str(Path(data).resolve()), "modalities": list(modalities)}
        write_bytes_atomic(self.record, yaml.safe_dump(record).encode())

    def training_data(self) -> str | None:
        """The training data of the run record, or None when there is none (or it is unreadable)."""
        if not self.record.is_file():
            return None
        try:
            record = yaml.safe_load(self.record.read_text()) or {}
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            return None
        data = record.get("data") if isinstance(record, dict) else None
        return str(data) if data else None


@dataclass(frozen=True)
class RunSummary:
    """What a finished run's last checkpoint says about its training."""

    steps: int
    train_minutes: float


def run_summary(run_dir_or_checkpoint: str | Path) -> RunSummary:
    state = load_checkpoint(resolve_checkpoint(run_dir_or_checkpoint))
    extra = state.get("extra") or {}
    elapsed = extra.get("elapsed") if isinstance(extra, dict) else None
    minutes = float(elapsed) / 60.0 if isinstance(elapsed, (int, float)) else math.nan
    return RunSummary(steps=int(state["step"]), train_minutes=minutes)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, then os.replace.

    A crash mid-write leaves the previous checkpoint intact, never a truncated one. The
    state's :func:`state_digest` is stored with it, so a damaged file is refused on load.
    """
    state = {**state, CHECKSUM_KEY: state_digest(state)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises CheckpointError naming the path when the file is missing, unreadable, not a
    checkpoint, of another format version, damaged (its checksum does not match), badly
    typed, or holding NaN or inf weights (a diverged run must not write NaN images).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or foreign file
        text = str(error)
        if "weights_only" in text or "Unsupported global" in text or "Weights only" in text:
            # torch's own message advises weights_only=False: the unsafe route, never ours
            raise CheckpointError(
                f"checkpoint {path}: {NOT_CHECKPOINT} (it holds Python objects other than "
                "tensors and plain values; refused without running them)"
            ) from None
        reason = text.splitlines()[0] if text else type(error).__name__
        raise CheckpointError(f"checkpoint {path}: unreadable or corrupt ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: {NOT_CHECKPOINT} (not a dict)")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path}: {NOT_CHECKPOINT} (missing {', '.join(missing)})")
    if state["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path}: format {state['format']!r}, this version reads "
            f"format {CHECKPOINT_FORMAT}"
        )
    stored = state.get(CHECKSUM_KEY)
    if stored is not None and stored != state_digest(state):
        raise CheckpointError(
            f"checkpoint {path}: damaged (its content does not match its sha256 checksum)"
        )
    _check_types(state, path)
    bad = _non_finite(state)
    if bad is not None:
        raise CheckpointError(f"checkpoint {path}: non-finite values (NaN or inf) in {bad}")
    return state


def _check_types(state: dict[str, Any], path: Path) -> None:
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(
            f"checkpoint {path}: {NOT_CHECKPOINT} (step {step!r} is not a count of steps)"
        )
    modalities = state["modalities"]
    if not isinstance(modalities, (list, tuple)) or not all(isinstance(m, str) for m in modalities):
        raise CheckpointError(f"checkpoint {path}: {NOT_CHECKPOINT} (modalities {modalities!r})")
    for key, kind in (("method", str), ("config", dict), ("method_state", dict)):
        if not isinstance(state[key], kind):
            raise CheckpointError(
                f"checkpoint {path}: {NOT_CHECKPOINT} ({key} is a {type(state[key]).__name__})"
            )


PRETRAINED = Path(__file__).parent / "pretrained"  # shipped models: NAME.pt + NAME.md card


def pretrained_models() -> tuple[str, ...]:
    """The names of the models shipped with the package (``--model brats-tiny``)."""
    return tuple(sorted(p.stem for p in PRETRAINED.glob("*.pt")))


def resolve_checkpoint(run_dir_or_checkpoint: str | Path) -> Path:
    """A run folder means its ``checkpoints/last.pt``; a file means itself; a name that is
    neither, but a shipped model's, means that model (pretrained/NAME.pt)."""
    path = Path(run_dir_or_checkpoint)
    if path.is_dir():
        return RunFolder(path).last
    if not path.exists() and str(run_dir_or_checkpoint) in pretrained_models():
        return PRETRAINED / f"{run_dir_or_checkpoint}.pt"
    if not path.exists() and path.suffix != ".pt" and len(path.parts) == 1:
        shipped = ", ".join(pretrained_models()) or "none"
        raise CheckpointError(
            f"{run_dir_or_checkpoint}: no such run folder, checkpoint or shipped model "
            f"(shipped: {shipped})"
        )
    return path


EXPORTED_EXTRA = ("train_cases", "val_cases", "elapsed", "best_val", "intensity_landmarks")


def export_checkpoint(
    source: str | Path, target: str | Path, dtype: torch.dtype = torch.float16
) -> Path:
    """A checkpoint for synthesis only: the weights (floating tensors cast to ``dtype``,
    half the size in float16; ``load_method`` casts them back), the config, modalities and
    step, and what the run learnt from; no optimiser, discriminator, RNG or log state.
    Refused if a weight does not fit ``dtype`` (inf after the cast)."""
    path = resolve_checkpoint(source)
    state = load_checkpoint(path)
    weights = {
        key: value.to(dtype) if value.is_floating_point() else value
        for key, value in state["method_state"].items()
    }
    extra = state.get("extra") or {}
    exported = {key: state[key] for key in REQUIRED_KEYS} | {
        "method_state": weights,
        "extra": {k: extra[k] for k in EXPORTED_EXTRA if k in extra} | {"exported_from": str(path)},
    }
    bad = _non_finite(exported)
    if bad is not None:
        raise CheckpointError(f"checkpoint {path}: {bad} does not fit {dtype} (inf after casting)")
    save_checkpoint(target, exported)
    return Path(target)


def checkpoint_config(state: dict[str, Any], path: str | Path) -> Config:
    """The resolved Config stored in a checkpoint (CheckpointError if it no longer parses)."""
    try:
        return from_dict(Config, migrate_legacy(state["config"]))
    except ConfigError as error:
        raise CheckpointError(f"checkpoint {path}: its config is incompatible ({error})") from None


def load_method(
    run_dir_or_checkpoint: str | Path, device: str | torch.device = "cpu"
) -> tuple[Method, Config, tuple[str, ...]]:
    """Rebuild the trained method from a run folder or checkpoint file, in eval mode."""
    from mmhvae.methods import build_method

    path = resolve_checkpoint(run_dir_or_checkpoint)
    state = load_checkpoint(path, map_location="cpu")
    config = checkpoint_config(state, path)
    require_slices(config, f"checkpoint {path}: ")
    modalities = tuple(str(m) for m in state["modalities"])
    if config.method != state["method"]:
        raise CheckpointError(
            f"checkpoint {path}: method {state['method']!r} but config says {config.method!r}"
        )
    method = build_method(config, modalities)
    try:
        method.load_state_dict(state["method_state"])
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit the method ({first})"
        ) from None
    method.to(device).eval()
    landmarks = (state.get("extra") or {}).get("intensity_landmarks") or {}
    method.intensity_landmarks = {str(m): [float(v) for v in lm] for m, lm in landmarks.items()}
    return method, config, modalities


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step draws from, as weights_only-safe values."""
    # the legacy global state is what third-party code (augmentation libraries) draws from
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["gauss"],
        )
    )
    python_state = state["python"]
    random.setstate(
        (
            python_state["version"],
            tuple(int(v) for v in python_state["state"].tolist()),
            python_state["gauss"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
