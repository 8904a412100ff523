"""Functional ops, convolution and pooling: conv2d, conv_transpose2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d.

Re-exported by :mod:`playground.engine.functional`."""

from __future__ import annotations

__all__: list[str] = []
