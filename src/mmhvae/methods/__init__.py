"""Synthesis methods behind one interface (:class:`~mmhvae.methods.base.Method`).

``METHODS`` is the explicit registry: name -> builder(config, modalities) -> Method.
"""

from __future__ import annotations

from mmhvae.methods.registry import METHODS, build_method

__all__ = ["METHODS", "build_method"]
