"""Functional ops, normalisation: batch_norm, layer_norm.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []
