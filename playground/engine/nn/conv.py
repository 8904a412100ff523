"""nn modules: Conv2d, ConvTranspose2d, pooling."""

from __future__ import annotations

__all__: list[str] = []
