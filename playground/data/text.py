"""The text corpus, its vocabularies, and the ``text`` language-modelling dataset.

The corpus is a public-domain English text shipped under ``assets/text/`` (its source and
licence are in ``assets/text/README.md``): :data:`CORPUS` = ``"shakespeare"``, the first
three acts of Shakespeare's *Coriolanus* (95,375 characters).

Vocabularies (:class:`Vocabulary`, an index <-> token map):

* characters (:func:`char_vocabulary`): every character of the corpus, sorted by code
  point (61 for the shipped corpus, newline and space included), so no character is
  unknown;
* words (:func:`word_vocabulary`): lower-cased word tokens (:func:`words`: runs of letters
  with inner apostrophes, "ne'er", "know't"; punctuation and line breaks are dropped)
  counted in the training part only, kept when they occur at least ``min_count`` times,
  most frequent first (ties alphabetical), behind token 0, ``UNK`` = ``"<unk>"``, which
  stands for every other word.

Split: the last :data:`VAL_FRACTION` (10%) of the token sequence, contiguous, is held out;
no window straddles the split.

Windows (:func:`load_text`): a window is ``L + 1`` consecutive tokens; ``x`` is its first
L and ``target`` its last L, so ``target[:, i]`` is the token after ``x[:, i]``
(next-token prediction at every position). Training windows start at ``n_samples``
uniformly drawn offsets (seeded, overlapping); held-out windows tile the held-out part
without overlap (a seeded subset of ``n_samples`` of them when there are more), so each
held-out token is scored at most once and the held-out mean cross-entropy is that of the
held-out text. Perplexity = exp(mean cross-entropy in nats) (Jelinek et al. 1977; Jurafsky
& Martin, *Speech and Language Processing*, 3rd ed., eq. 3.16).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from playground._resources import resource_path

from .base import Dataset, DatasetFileError, Split

__all__ = ["CORPUS", "CORPORA", "CHAR_VOCAB_SIZE", "LEVELS", "UNK", "VAL_FRACTION", "Vocabulary", "TextData",
           "corpus_path", "read_corpus", "words", "char_vocabulary", "word_vocabulary",
           "text_data", "make_windows", "unigram_perplexity", "load_text", "MAX_TEXT_BYTES"]

CORPUS = "shakespeare"
CORPORA = ("shakespeare",)
LEVELS = ("char", "word")
UNK = "<unk>"
VAL_FRACTION = 0.1
#: Characters of the shipped corpus (its character vocabulary's size), known without
#: reading it (a test checks the two agree).
CHAR_VOCAB_SIZE = 61
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
#: Largest text file read as a corpus (bytes).
MAX_TEXT_BYTES = 64 * 2**20


def corpus_path(name: str = CORPUS) -> Path:
    """The shipped corpus file ``assets/text/<name>.txt``."""
    return resource_path("assets", "text", f"{name}.txt")


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = Path(path).stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _read(path: str, stamp: tuple[int, int] = (0, 0)) -> str:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"text corpus not found at {p}; it ships in assets/text/ "
                                "(reinstall DL Playground, or pass the path of a UTF-8 text)")
    if not p.is_file():
        raise DatasetFileError(f"text corpus {p} is a folder or device, not a text file")
    if p.stat().st_size > MAX_TEXT_BYTES:
        raise DatasetFileError(f"text corpus {p} is {p.stat().st_size / 1e6:.0f} MB; at most "
                               f"{MAX_TEXT_BYTES // 2**20} MB is read")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetFileError(f"text corpus {p} is not UTF-8 text: {exc}") from None
    if len(text) < 1000:
        raise DatasetFileError(f"text corpus {p} holds {len(text)} characters; a language "
                               "model needs at least 1,000")
    return text


def read_corpus(path: str | PathLike[str] | None = None) -> str:
    """The corpus text (default: the shipped :data:`CORPUS`), read once and cached (read
    again when the file changes).

    Raises:
        FileNotFoundError: no file at ``path`` (names it).
        DatasetFileError: not UTF-8, over :data:`MAX_TEXT_BYTES`, or shorter than 1,000
            characters.
    """
    p = str(corpus_path() if path is None else Path(path).expanduser())
    return _read(p, _stamp(p))


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``: ``words("Ne'er, my LORD!") == ["ne'er", "my",
    "lord"]``."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """An index <-> token map.

    Attributes:
        tokens: V token strings; index = token id.
        unk: the id unknown tokens map to (``UNK``'s), or None when every token is known
            (the character vocabulary).
        counts: int64 (V,), each token's count in the text the vocabulary was built from
            (for ``UNK`` the count of all the words it replaced).
    """

    tokens: tuple[str, ...]
    unk: int | None = None
    counts: np.ndarray | None = None
    _index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("Vocabulary.tokens has duplicates")
        object.__setattr__(self, "_index", MappingProxyType(
            {t: i for i, t in enumerate(self.tokens)}))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def index(self, token: str) -> int:
        """The id of ``token``; ``unk`` for an unknown one.

        Raises:
            KeyError: an unknown token and no ``unk`` (names the token)."""
        i = self._index.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise KeyError(f"{token!r} is not in the vocabulary of {len(self)} tokens")
        return self.unk

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Tokens (characters of a string, or a list of words) -> int64 ids (n,)."""
        return np.array([self.index(t) for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """int ids -> token strings. Raises IndexError for an id outside ``0..V-1``."""
        return [self.tokens[int(i)] for i in ids]


def char_vocabulary(text: str) -> Vocabulary:
    """Every character of ``text``, sorted by code point, with its count."""
    counts = Counter(text)
    chars = tuple(sorted(counts))
    return Vocabulary(chars, None, np.array([counts[c] for c in chars], dtype=np.int64))


def word_vocabulary(tokens: list[str], min_count: int = 2) -> Vocabulary:
    """``UNK`` and the words of ``tokens`` that occur at least ``min_count`` times, most
    frequent first (ties in alphabetical order)."""
    counts = Counter(tokens)
    kept = sorted((w for w, c in counts.items() if c >= min_count),
                  key=lambda w: (-counts[w], w))
    unk_count = sum(c for w, c in counts.items() if c < min_count)
    return Vocabulary((UNK, *kept), 0,
                      np.array([unk_count, *(counts[w] for w in kept)], dtype=np.int64))


@dataclass(frozen=True, eq=False)
class TextData:
    """A corpus tokenized at one level and split.

    Attributes:
        level: ``"char"`` or ``"word"``.
        vocabulary: the :class:`Vocabulary`.
        train: int64 (T_train,) token ids of the first 90% of the corpus.
        val: int64 (T_val,) token ids of the last 10%.
    """

    level: str
    vocabulary: Vocabulary
    train: np.ndarray
    val: np.ndarray

    def unigram(self) -> np.ndarray:
        """float64 (V,): each token's frequency in the training part, add-one smoothed
        (Laplace), ``(count + 1) / (T_train + V)``, so no token has probability 0."""
        counts = np.bincount(self.train, minlength=len(self.vocabulary)).astype(np.float64)
        return (counts + 1.0) / (counts.sum() + len(counts))


def text_data(level: str = "char", min_count: int = 2, path: str | None = None) -> TextData:
    """The corpus (the shipped one, or the UTF-8 text file at ``path``) tokenized at
    ``level`` and split (cached until the file changes).

    Raises:
        ValueError: ``level`` not in :data:`LEVELS`, or ``min_count`` < 1.
        FileNotFoundError, DatasetFileError: see :func:`read_corpus`.
    """
    key = None if path is None else str(Path(path).expanduser())
    return _text_data(level, min_count, key, (0, 0) if key is None else _stamp(key))


@lru_cache(maxsize=8)
def _text_data(level: str, min_count: int, path: str | None,
               stamp: tuple[int, int]) -> TextData:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if min_count < 1:
        raise ValueError(f"min_count must be ≥ 1, got {min_count}")
    text = read_corpus(path)
    if level == "char":
        vocab = char_vocabulary(text)
        ids = vocab.encode(text)
    else:
        toks = words(text)
        cut = len(toks) - int(round(VAL_FRACTION * len(toks)))
        vocab = word_vocabulary(toks[:cut], min_count)
        ids = vocab.encode(toks)
    cut = len(ids) - int(round(VAL_FRACTION * len(ids)))
    return TextData(level, vocab, ids[:cut], ids[cut:])


def make_windows(ids: np.ndarray, seq_len: int, n: int, rng: np.random.Generator,
                 tile: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Next-token windows of ``seq_len`` = L from the token sequence ``ids``.

    ``tile=False``: ``n`` windows at uniform random offsets. ``tile=True``: the
    non-overlapping windows starting at 0, L, 2L, ... (a uniform random subset of ``n`` of
    them, in text order, when there are more than ``n``).

    Returns:
        x int64 (n, L) and target int64 (n, L) with ``target[:, i] = ids[start + i + 1]``.

    Raises:
        ValueError: the sequence holds fewer than ``L + 1`` tokens.
    """
    if len(ids) < seq_len + 1:
        raise ValueError(f"seq_len={seq_len} needs at least {seq_len + 1} tokens, the split "
                         f"has {len(ids)}; use a smaller seq_len (or level='char')")
    if tile:
        starts = np.arange(0, len(ids) - seq_len, seq_len)
        if len(starts) > n:
            starts = np.sort(rng.choice(starts, size=n, replace=False))
    else:
        starts = rng.integers(0, len(ids) - seq_len, size=n)
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    win = ids[idx]
    return np.ascontiguousarray(win[:, :-1]), np.ascontiguousarray(win[:, 1:])


def unigram_perplexity(unigram: np.ndarray, targets: np.ndarray) -> float:
    """The unigram baseline: exp of the mean of ``-log unigram[t]`` over the target tokens
    ``targets`` (any shape), i.e. the perplexity of a model that ignores all context and
    predicts the training frequencies (the cross-entropy of the held-out token distribution
    under the train unigram)."""
    t = np.asarray(targets).ravel()
    return float(math.exp(-np.log(unigram[t]).mean()))


def load_text(n_samples: int, seed: int, seq_len: int, level: str = "char",
              min_count: int = 2, path: str | PathLike[str] | None = None) -> Dataset:
    """The ``text`` dataset: next-token windows of the corpus (the shipped one, or the UTF-8
    text file at ``path``; see the module docstring).

    Returns:
        Dataset ``"text"``: x int64 (N, L), L = ``seq_len``, and target int64 (N, L), the
        same tokens shifted by one; ``n_samples`` training windows and at most as many
        held-out ones; ``class_names`` the vocabulary's tokens; ``extras`` the
        ``vocabulary``, the train ``unigram``, the ``level`` and the ``corpus`` (the file's
        stem for a user's text).

    Raises:
        ValueError: see :func:`text_data` and :func:`make_windows` (a text too short for
            ``seq_len``). FileNotFoundError, DatasetFileError: see :func:`read_corpus`.
    """
    corpus = text_data(level, min_count if level == "word" else 2,
                       None if path is None else str(path))
    vocab = corpus.vocabulary
    x, y = make_windows(corpus.train, seq_len, n_samples, np.random.default_rng([seed, 0]))
    vx, vy = make_windows(corpus.val, seq_len, n_samples, np.random.default_rng([seed, 1]),
                          tile=True)
    return Dataset(
        name="text",
        train=Split(input=x, target=y),
        val=Split(input=vx, target=vy),
        num_classes=len(vocab),
        feature_shape=(seq_len,),
        image_shape=None,
        class_names=vocab.tokens,
        target_shape=(seq_len,),
        extras={"vocabulary": vocab, "unigram": corpus.unigram(), "level": level,
                "corpus": CORPUS if path is None else Path(path).stem},
    )
