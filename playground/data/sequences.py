"""Token-sequence tasks for attention models.

``make_reverse(n, rng, length, vocab)``: N random digit sequences and their reversals, the
classic sequence-to-sequence toy task (Sutskever et al. 2014, "Sequence to Sequence Learning
with Neural Networks", reversed the source to ease learning; here reversal *is* the task).
A model can only solve it by routing position i to position L-1-i, which shows as an
anti-diagonal in its attention maps.

An encoder-decoder learns it with teacher forcing: the decoder's input is the target
shifted one place right behind a begin-of-sequence token ``REVERSE_BOS`` (the graph's
ShiftRight node), so the decoder's vocabulary is ``REVERSE_VOCAB + 1`` tokens while the
predicted classes stay the ``REVERSE_VOCAB`` digits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_reverse", "REVERSE_BOS", "REVERSE_LENGTH", "REVERSE_VOCAB"]

REVERSE_LENGTH = 8  # L, tokens per sequence
REVERSE_VOCAB = 10  # tokens are the digits 0..9
REVERSE_BOS = REVERSE_VOCAB  # the decoder's start token, one past the digits


def make_reverse(n: int, rng: np.random.Generator, length: int = REVERSE_LENGTH,
                 vocab: int = REVERSE_VOCAB) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of ``length`` tokens drawn uniformly from ``0..vocab-1``.

    Returns:
        x: int64 (N, L) the source sequences; y: int64 (N, L) with ``y[:, i] = x[:, L-1-i]``.
    """
    x = rng.integers(0, vocab, size=(n, length), dtype=np.int64)
    return x, np.ascontiguousarray(x[:, ::-1])
