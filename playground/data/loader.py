"""Mini-batching for the training hot loop: one permutation per epoch, fancy indexing, no
per-example Python.

Batch shapes: input float32 (B, *F), target int64 (B,), B = ``batch_size``. Each batch is a
fresh copy (fancy indexing), so callers may modify it freely.

Partial batches: with ``drop_last=True`` (the default) the last ``N mod B`` examples of each
shuffled epoch are skipped, so every batch has exactly B rows (a different subset is skipped
each epoch). Exception: when B > N, an epoch is a single batch of all N examples instead of
being empty.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .base import Split

__all__ = ["batches", "Loader"]

Batch = tuple[np.ndarray, np.ndarray]


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def _bounds(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    if n == 0:
        return []
    if batch_size >= n:
        return [(0, n)]
    stop = n - n % batch_size if drop_last else n
    return [(s, min(s + batch_size, n)) for s in range(0, stop, batch_size)]


def batches(
    split: Split,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    *,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[Batch]:
    """Yield one epoch of ``(input, target)`` mini-batches of ``split``.

    Args:
        split: the examples, N of them.
        batch_size: B >= 1.
        rng: a ``numpy.random.Generator`` (advanced by one permutation per call) or a seed for
            one; used only when ``shuffle``.
        shuffle: visit examples in a random order (else in stored order).
        drop_last: skip the final partial batch (see module docs; B > N gives one batch of N).

    Yields:
        input float32 (B, *F), target int64 (B,); the last batch has N mod B rows when
        ``drop_last=False``.

    Raises:
        ValueError: ``batch_size`` is not an integer >= 1.
    """
    batch_size = _check_batch_size(batch_size)
    n = len(split)
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    x, y = split.input, split.target
    for s, e in _bounds(n, batch_size, drop_last):
        idx = order[s:e]
        yield x[idx], y[idx]


class Loader:
    """Endless shuffled mini-batches of one split, for step-based training.

    ``next_batch()`` returns the next batch, reshuffling when an epoch is used up;
    ``iter(loader)`` runs exactly one (fresh) epoch; ``len(loader)`` is batches per epoch.
    ``epoch`` counts completed epochs (as consumed by ``next_batch``).

    Args:
        split: the examples, N >= 1 of them.
        batch_size: B >= 1.
        rng: a ``numpy.random.Generator`` or a seed (same seed -> same batch sequence).
        drop_last: skip the final partial batch of each epoch (see module docs).

    Raises:
        ValueError: ``batch_size`` is not an integer >= 1, or the split is empty.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        rng: np.random.Generator | int | None = None,
        *,
        drop_last: bool = True,
    ) -> None:
        self.batch_size = _check_batch_size(batch_size)
        if len(split) == 0:
            raise ValueError("Loader needs a split with at least one example, got N=0")
        self.split = split
        self.drop_last = drop_last
        self.rng = np.random.default_rng(rng)
        self.epoch = 0
        self._bounds = _bounds(len(split), self.batch_size, drop_last)
        self._order = self.rng.permutation(len(split))
        self._next = 0  # index into self._bounds

    def __len__(self) -> int:
        return len(self._bounds)

    def __iter__(self) -> Iterator[Batch]:
        return batches(self.split, self.batch_size, self.rng, drop_last=self.drop_last)

    def next_batch(self) -> Batch:
        """The next ``(input (B, *F) float32, target (B,) int64)`` of the endless stream."""
        if self._next == len(self._bounds):
            self._order = self.rng.permutation(len(self.split))
            self._next = 0
            self.epoch += 1
        s, e = self._bounds[self._next]
        self._next += 1
        idx = self._order[s:e]
        return self.split.input[idx], self.split.target[idx]
