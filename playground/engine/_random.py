"""The engine's random number generator: one numpy ``Generator`` for all of the engine
(init, ``randn``, ``rand``), reseeded by :func:`manual_seed` so runs are reproducible."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator", "initial_seed"]

#: Seed used until manual_seed() is called (fixed, like PyTorch's default generator).
DEFAULT_SEED = 67280421310721

_generator = np.random.default_rng(DEFAULT_SEED)
_seed = DEFAULT_SEED


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the engine's generator; returns it.

    Raises:
        ValueError: ``seed`` is negative.
    """
    global _generator, _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    _generator = np.random.default_rng(seed)
    _seed = seed
    return _generator


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed` (or the default one)."""
    return _seed


def generator() -> np.random.Generator:
    """The engine's current generator (changes on each :func:`manual_seed`)."""
    return _generator
