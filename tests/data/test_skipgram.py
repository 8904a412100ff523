"""The skipgram dataset: (center, context) pairs within the window, unigram^0.75
negatives, seeded, and registered."""

from __future__ import annotations

import numpy as np
import pytest

from playground import data
from playground.data import skipgram, text


def test_registered_with_its_layout_and_vocabulary():
    d = data.load("skipgram", n_samples=5000, seed=0)
    vocab = text.text_data("word", skipgram.MIN_COUNT).vocabulary
    assert len(vocab) == skipgram.VOCAB_SIZE == d.num_classes == data.DATASETS["skipgram"].num_classes
    assert d.class_names == vocab.tokens and d.class_names[1] == "the"
    assert d.train.input.shape == (5000, 1) and d.train.input.dtype == np.int64
    assert d.train.target.shape == (5000, 1 + skipgram.NEGATIVES)
    assert 0 < len(d.val) <= 5000
    for split in (d.train, d.val):
        assert split.input.min() > 0 and split.target[:, 0].min() > 0  # no <unk>
        assert split.target.max() < d.num_classes
    again = data.load("skipgram", n_samples=5000, seed=0)
    np.testing.assert_array_equal(again.train.target, d.train.target)
    other = data.load("skipgram", n_samples=5000, seed=1)
    assert not np.array_equal(other.train.target, d.train.target)


def test_pairs_are_within_the_window():
    ids = np.arange(10, 20)
    c, o = skipgram.pairs(ids, window=2)
    assert len(c) == 2 * (9 + 8)
    assert set(np.abs(c - o)) == {1, 2}
    assert (12, 10) in set(zip(c, o)) and (10, 12) in set(zip(c, o))


def test_negatives_follow_unigram_to_the_three_quarters():
    counts = np.array([50, 100, 10, 1])
    p = skipgram.noise_distribution(counts, unk=0)
    assert p[0] == 0 and p.sum() == pytest.approx(1)
    assert p[1] / p[2] == pytest.approx(10 ** 0.75)
    ids = np.tile([1, 2, 3], 2000)
    _, t = skipgram.make_skipgram(ids, counts, 0, 20_000, np.random.default_rng(0),
                                  window=1, negatives=5)
    freq = np.bincount(t[:, 1:].ravel(), minlength=4) / t[:, 1:].size
    np.testing.assert_allclose(freq, p, atol=0.01)
    with pytest.raises(ValueError, match="every count is 0"):
        skipgram.noise_distribution(np.zeros(3))


def test_subsampling_thins_frequent_words_only():
    counts = np.array([0, 10_000, 10])
    ids = np.array([1] * 10_000 + [2] * 10)
    kept = skipgram.subsample(ids, counts, np.random.default_rng(0), sample=1e-3)
    assert (kept == 2).sum() == 10  # rare: always kept
    assert (kept == 1).sum() < 0.1 * 10_000
