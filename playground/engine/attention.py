"""Functional ops, attention: scaled_dot_product_attention.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []
