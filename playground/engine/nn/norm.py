"""nn modules: BatchNorm1d/2d, LayerNorm."""

from __future__ import annotations

__all__: list[str] = []
