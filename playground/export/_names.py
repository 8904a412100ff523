"""Distinct names, shared by the exporters and the importer."""

from __future__ import annotations


def distinct(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... the first not in ``taken``; adds it to
    ``taken`` and returns it."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name
