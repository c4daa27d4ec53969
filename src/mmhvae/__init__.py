"""mmhvae: unified cross-modal medical image synthesis (MMHVAE, Dorent et al., TPAMI 2025).

Importing the package has no side effects: no torch import, no file access, no logging set-up.
The public API lives in the subpackages, which follow the path of a volume:
``data`` -> ``model`` -> ``losses`` -> ``methods`` -> ``training`` -> ``synthesis`` ->
``evaluation``; ``phantom`` makes synthetic datasets and ``cli`` wraps it all.
"""

__version__ = "0.1.0"

__all__ = ["Synthesizer", "Synthesized", "__version__"]


def __getattr__(name: str) -> object:
    """``from mmhvae import Synthesizer``: imported on first use, so ``import mmhvae`` stays
    free of torch and of every side effect (the package root is a lazy facade)."""
    if name in ("Synthesizer", "Synthesized"):
        from mmhvae.synthesis import api

        return getattr(api, name)
    raise AttributeError(f"module 'mmhvae' has no attribute {name!r}")
