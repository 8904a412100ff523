"""The ``skipgram`` dataset: (center, context) word pairs with sampled negatives, for
word2vec's skip-gram with negative sampling (Mikolov et al. 2013, "Distributed
Representations of Words and Phrases and their Compositionality", NeurIPS).

Built from the shipped corpus's word vocabulary (:func:`playground.data.text.text_data`,
``level="word"``, ``min_count=MIN_COUNT``), training part for train, held-out part for val:

1. ``<unk>`` tokens are dropped (word2vec discards out-of-vocabulary words).
2. Frequent words are subsampled (Mikolov et al. 2013, §2.3, in the form of the reference C
   code): a token of frequency f is kept with probability
   ``min(1, (sqrt(f/SAMPLE) + 1) * SAMPLE/f)``, once per split with the seed.
3. Every pair (w_t, w_{t+j}) with ``1 <= |j| <= WINDOW`` of the remaining stream is a
   (center, context) pair; ``n_samples`` of them are drawn (without replacement while there
   are enough, seeded).
4. Each pair gets ``NEGATIVES`` = k negative words drawn from the unigram distribution
   raised to 3/4 (§2.2), P(w) ∝ count(w)^0.75 over the training counts, ``<unk>`` excluded.

Layout: ``input`` = center ids int64 (N, 1) (a split's inputs are at least 2-D); ``target`` = int64 (N, 1+k): column 0 the true
context word, columns 1..k the negatives. ``num_classes`` = V, the vocabulary size
(``class_names`` its words; ``extras["vocabulary"]``, ``extras["noise"]`` the (V,) noise
distribution).
"""

from __future__ import annotations

import numpy as np

from . import text
from .base import Dataset, DatasetInfo, Split

__all__ = ["INFO", "MIN_COUNT", "WINDOW", "NEGATIVES", "SAMPLE", "VOCAB_SIZE", "noise_distribution",
           "subsample", "pairs", "make_skipgram", "load"]

MIN_COUNT = 5  # words rarer than this in the training text become <unk> (then dropped)
WINDOW = 2  # context words on each side of the center
NEGATIVES = 5  # k, negative words per pair
SAMPLE = 1e-3  # the subsampling threshold t (word2vec's default -sample 1e-3)
POWER = 0.75  # the noise distribution's exponent
#: V, the word vocabulary at MIN_COUNT (<unk> included); a test checks it against the corpus
VOCAB_SIZE = 414


INFO = DatasetInfo(
    name="skipgram",
    title="Shakespeare word pairs (word2vec)",
    description=f"(center, context) word pairs within {WINDOW} words of each other in "
    f"Shakespeare's Coriolanus, Acts I-III (words seen at least {MIN_COUNT} times; frequent "
    f"words subsampled), each with {NEGATIVES} negative words drawn from unigram^0.75: "
    "skip-gram with negative sampling. The last 10% of the text is held out. 'noise' is "
    "ignored.",
    defaults={"n_samples": 40_000},
    ranges={"n_samples": (4, 100_000)},
    is_2d=False,
    num_classes=VOCAB_SIZE,
    is_sequence=False,
)


def noise_distribution(counts: np.ndarray, unk: int | None = 0,
                       power: float = POWER) -> np.ndarray:
    """float64 (V,): ``counts**power`` normalised, 0 at ``unk``. Raises ValueError if no
    word has a positive count."""
    p = np.asarray(counts, dtype=np.float64) ** power
    if unk is not None:
        p[unk] = 0.0
    total = p.sum()
    if not total > 0:
        raise ValueError("noise_distribution: every count is 0; the vocabulary is empty")
    return p / total


def subsample(ids: np.ndarray, counts: np.ndarray, rng: np.random.Generator,
              sample: float = SAMPLE) -> np.ndarray:
    """Keep each token of ``ids`` (T,) with probability ``min(1, (sqrt(f/t) + 1) * t/f)``,
    f its frequency in ``counts`` (V,), t = ``sample``: the kept ids, in order."""
    f = np.asarray(counts, dtype=np.float64) / max(int(np.sum(counts)), 1)
    fi = np.maximum(f[ids], 1e-12)
    keep = np.minimum(1.0, (np.sqrt(fi / sample) + 1.0) * sample / fi)
    return ids[rng.random(len(ids)) < keep]


def pairs(ids: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Every (center, context) pair with ``1 <= |offset| <= window``: two int64 (P,)."""
    centers, contexts = [], []
    for j in range(1, window + 1):
        centers += [ids[:-j], ids[j:]]
        contexts += [ids[j:], ids[:-j]]
    return (np.concatenate(centers).astype(np.int64),
            np.concatenate(contexts).astype(np.int64))


def make_skipgram(ids: np.ndarray, counts: np.ndarray, unk: int | None, n: int,
                  rng: np.random.Generator, window: int = WINDOW, negatives: int = NEGATIVES,
                  cap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training examples from the token stream ``ids`` (T,).

    Returns:
        x: int64 (n, 1) center ids; target: int64 (n, 1+negatives), the context id then the
        negatives (drawn from :func:`noise_distribution` of ``counts``). Pairs are drawn
        without replacement while there are enough; with ``cap`` there are at most as many
        examples as pairs (a held-out split scores each pair once).

    Raises:
        ValueError: the stream has no pair (fewer than 2 in-vocabulary tokens).
    """
    if unk is not None:
        ids = ids[ids != unk]
    ids = subsample(ids, counts, rng)
    c, o = pairs(ids, window)
    if len(c) == 0:
        raise ValueError("skipgram: the text has fewer than 2 in-vocabulary words; "
                         "lower MIN_COUNT")
    if cap:
        n = min(n, len(c))
    pick = rng.permutation(len(c))[:n] if n <= len(c) else rng.integers(0, len(c), n)
    noise = noise_distribution(counts, unk)
    neg = rng.choice(len(noise), size=(len(pick), negatives), p=noise)
    return c[pick, None], np.concatenate([o[pick, None], neg], axis=1).astype(np.int64)


def load(n: int, seed: int) -> Dataset:
    """The ``skipgram`` dataset (see the module doc): ``n`` training pairs from the first
    90% of the text, and up to ``n`` from the held-out 10%; seeded by ``(seed, 0)`` and
    ``(seed, 1)``."""
    corpus = text.text_data("word", MIN_COUNT)
    vocab = corpus.vocabulary
    counts = np.bincount(corpus.train, minlength=len(vocab))
    x, y = make_skipgram(corpus.train, counts, vocab.unk, n, np.random.default_rng([seed, 0]))
    vx, vy = make_skipgram(corpus.val, counts, vocab.unk, n, np.random.default_rng([seed, 1]),
                            cap=True)
    return Dataset(
        name=INFO.name,
        train=Split(input=x, target=y),
        val=Split(input=vx, target=vy),
        num_classes=len(vocab),
        feature_shape=(1,),
        image_shape=None,
        class_names=vocab.tokens,
        target_shape=(1 + NEGATIVES,),
        extras={"vocabulary": vocab, "noise": noise_distribution(counts, vocab.unk),
                "level": "word", "corpus": text.CORPUS},
    )
