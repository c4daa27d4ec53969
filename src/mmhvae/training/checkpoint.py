"""Self-describing checkpoints: weights + resolved config + modalities + training state.

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
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mmhvae.config import Config, from_dict
from mmhvae.errors import CheckpointError, ConfigError
from mmhvae.files import atomic_path

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
    if not isinstance(modalities, (list, tuple)) or not all(
        isinstance(m, str) for m in modalities
    ):
        raise CheckpointError(f"checkpoint {path}: {NOT_CHECKPOINT} (modalities {modalities!r})")
    for key, kind in (("method", str), ("config", dict), ("method_state", dict)):
        if not isinstance(state[key], kind):
            raise CheckpointError(
                f"checkpoint {path}: {NOT_CHECKPOINT} ({key} is a {type(state[key]).__name__})"
            )


def resolve_checkpoint(run_dir_or_checkpoint: str | Path) -> Path:
    """A run folder means its ``checkpoints/last.pt``; a file means itself."""
    path = Path(run_dir_or_checkpoint)
    if path.is_dir():
        return path / "checkpoints" / "last.pt"
    return path


def checkpoint_config(state: dict[str, Any], path: str | Path) -> Config:
    """The resolved Config stored in a checkpoint (CheckpointError if it no longer parses)."""
    try:
        return from_dict(Config, state["config"])
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
