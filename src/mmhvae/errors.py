"""The errors a user can cause. The CLI prints their message (no traceback) and exits with 2.

Every message names the file (or option) and the problem, so the user can act on it.
"""

from __future__ import annotations


class MMHVAEError(Exception):
    """Base class of every error caused by input, configuration or the file system."""


class DataError(MMHVAEError):
    """A dataset, case or volume that cannot be used as it is (names the file and the problem)."""


class ConfigError(MMHVAEError):
    """An invalid configuration file, key or value."""


class CheckpointError(MMHVAEError):
    """A missing, unreadable or incompatible checkpoint."""


class OutputExistsError(MMHVAEError):
    """An output file or folder exists and ``--overwrite`` was not given."""


class WeightsMissingError(MMHVAEError):
    """Optional network weights (LPIPS) are not installed locally."""


def failure_message(error: BaseException) -> str:
    """One line for a case that failed: our errors say what to fix; anything else is named
    by its type (a bug or an exhausted machine), never shown as a traceback."""
    if isinstance(error, MMHVAEError):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory"
    first = str(error).splitlines()[0] if str(error) else ""
    return f"unexpected {type(error).__name__}" + (f": {first}" if first else "")
