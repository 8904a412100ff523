"""The text corpus, its vocabularies and the ``text`` dataset."""

import math

import numpy as np
import pytest

from playground import data
from playground.data import text


def test_corpus_is_the_shipped_play_whole():
    corpus = text.read_corpus()
    assert len(corpus) == 95_375
    assert corpus.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert corpus.endswith("Citizens:\nIt shall be so, it shall be so.\n")
    assert corpus.isascii()
    # real English: the commonest words are the usual ones, and lines are verse-length
    top = [w for w, _ in __import__("collections").Counter(text.words(corpus)).most_common(6)]
    assert {"the", "and", "to", "you", "of"} <= set(top) | {"of"}
    lines = [ln for ln in corpus.split("\n") if ln]
    assert 20 < np.mean([len(ln) for ln in lines]) < 45
    assert corpus.count("CORIOLANUS:") > 50


def test_char_vocabulary_round_trips():
    corpus = text.read_corpus()
    vocab = text.char_vocabulary(corpus)
    assert list(vocab.tokens) == sorted(set(corpus)) and len(vocab) == 61
    assert text.CHAR_VOCAB_SIZE == 61 == data.DATASETS["text"].num_classes
    assert vocab.unk is None and vocab.counts.sum() == len(corpus)
    sample = corpus[1000:1200]
    assert "".join(vocab.decode(vocab.encode(sample))) == sample
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.index("§")


def test_word_vocabulary_cutoff_and_unk():
    toks = text.words("The cat, the CAT; the dog ne'er barks. A cat!")
    assert toks == ["the", "cat", "the", "cat", "the", "dog", "ne'er", "barks", "a", "cat"]
    vocab = text.word_vocabulary(toks, min_count=2)
    assert vocab.tokens == (text.UNK, "cat", "the")  # ties alphabetical, most frequent first
    assert list(vocab.counts) == [4, 3, 3]
    assert list(vocab.encode(["the", "dog", "cat"])) == [2, 0, 1]
    full = text.word_vocabulary(toks, min_count=1)
    assert len(full) == 1 + 6 and full.counts[0] == 0


def test_split_is_contiguous_last_tenth():
    corpus = text.read_corpus()
    td = text.text_data("char")
    assert len(td.train) + len(td.val) == len(corpus)
    assert abs(len(td.val) - 0.1 * len(corpus)) <= 1
    vocab = td.vocabulary
    assert "".join(vocab.decode(td.val)) == corpus[len(td.train):]
    wd = text.text_data("word", 2)
    n_words = len(text.words(corpus))
    assert len(wd.train) + len(wd.val) == n_words
    # the word vocabulary is counted on the training words only
    train_words = text.words(corpus)[: len(wd.train)]
    assert wd.vocabulary.counts.sum() == len(train_words)


def test_text_dataset_windows_shift_by_one_and_stay_in_their_split():
    ds = data.load("text", n_samples=300, seq_len=20, seed=4)
    td = text.text_data("char")
    x, y = ds.train.input, ds.train.target
    assert x.shape == y.shape == (300, 20) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])
    assert ds.num_classes == 61 and ds.class_names == td.vocabulary.tokens
    assert ds.input_vocab_size == 61 and ds.target_shape == (20,)
    train_text = "".join(td.vocabulary.tokens[i] for i in td.train)
    for row_x, row_y in zip(x[:20], y[:20]):
        window = "".join(ds.class_names[i] for i in [*row_x, row_y[-1]])
        assert window in train_text
    # held out: non-overlapping windows tiling the last 10%, in order
    assert len(ds.val) == 300  # a seeded subset of the 476 tiles
    whole = data.load("text", n_samples=1000, seq_len=20, seed=4)
    vx, vy = whole.val.input, whole.val.target
    assert len(vx) == (len(td.val) - 1) // 20 == 476
    assert np.array_equal(vx.ravel(), td.val[: vx.size])
    assert np.array_equal(vy.ravel(), td.val[1: vy.size + 1])
    # seeded
    again = data.load("text", n_samples=300, seq_len=20, seed=4)
    other = data.load("text", n_samples=300, seq_len=20, seed=5)
    assert np.array_equal(again.train.input, x) and not np.array_equal(other.train.input, x)
    few = data.load("text", n_samples=10, seq_len=20, seed=4)
    assert len(few.val) == 10 and (np.diff(few.val.input[:, 0]) != 0).all()


def test_word_level_dataset():
    ds = data.load("text", level="word", seq_len=12, min_count=3, n_samples=50, seed=0)
    vocab = ds.extras["vocabulary"]
    assert ds.class_names[0] == text.UNK and vocab.unk == 0
    assert ds.num_classes == len(text.text_data("word", 3).vocabulary)
    assert ds.train.input.shape == (50, 12)
    assert 0 < (ds.train.input == 0).mean() < 0.2  # some, not most, words are <unk>


def test_unigram_baseline():
    ds = data.load("text", n_samples=100, seq_len=64)
    uni = ds.extras["unigram"]
    assert uni.shape == (61,) and math.isclose(uni.sum(), 1.0)
    ppl = text.unigram_perplexity(uni, ds.val.target)
    # exp(entropy of the held-out characters under the train frequencies): English text
    # has a unigram character perplexity in the 20s-30s (about 4.5-5 bits per character)
    assert 20 < ppl < 35
    # a uniform model over the 61 characters is worse than the unigram one
    assert ppl < 61


def test_bad_params_name_the_field():
    with pytest.raises(ValueError, match="seq_len"):
        data.load("text", seq_len=1)
    with pytest.raises(ValueError, match="level"):
        data.load("text", level="byte")
    with pytest.raises(ValueError, match="only 'text'"):
        data.load("moons", seq_len=8)
    with pytest.raises(ValueError, match="seq_len=200 needs at least 201 tokens"):
        text.make_windows(np.arange(150), 200, 4, np.random.default_rng(0))


def test_dataset_node_params_and_metadata():
    from playground.graph.nodes.data import _dataset_infer
    from playground.graph.spec import REGISTRY
    spec = REGISTRY["Dataset"]
    # old projects (without the new params) stay valid: the defaults fill in
    old = spec.validate_params({"dataset": "spirals", "n_samples": 200, "noise": 0.1, "seed": 0})
    assert old["seq_len"] == 64 and old["level"] == "char" and old["min_count"] == 2
    params = spec.validate_params({"dataset": "text", "seq_len": 32, "n_samples": 64})
    shapes, meta = _dataset_infer(params, {})
    assert shapes == {"x": (None, 32), "target": (None, 32)}
    assert meta["x"] == {"dtype": "int64", "num_classes": 61}
    assert meta["target"] == {"num_classes": 61}
