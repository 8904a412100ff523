"""nn modules: activation modules, Dropout, Embedding."""

from __future__ import annotations

__all__: list[str] = []
