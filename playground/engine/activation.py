"""Functional ops, activations and friends: leaky_relu, elu, gelu, glu, softplus, dropout, embedding.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []
