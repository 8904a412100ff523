"""The ring of 8 Gaussians (for GANs) and the digit-reversal sequences (for attention)."""

from __future__ import annotations

import numpy as np
import pytest

from playground import data
from playground.data import sequences, toys


def test_ring_points_sit_on_their_modes():
    ds = data.load("ring", n_samples=800, noise=0.05, seed=2)
    assert ds.num_classes == 8 and ds.feature_shape == (2,)
    assert ds.class_names[0] == "mode 0" and len(ds.class_names) == 8
    centers = toys.ring_centers()
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), toys.RING_RADIUS)
    for split in (ds.train, ds.val):
        x, y = split.input.astype(np.float64), split.target
        assert np.bincount(y, minlength=8).tolist() == [100] * 8
        offset = x - centers[y]
        # each coordinate's offset from its mode is N(0, noise^2)
        assert abs(offset.std() - 0.05) < 0.005 and abs(offset.mean()) < 0.01
        # every point is nearer its own mode than any other (modes are 12 sigma apart)
        d = np.linalg.norm(x[:, None, :] - centers[None], axis=2)
        assert (d.argmin(axis=1) == y).all()


def test_ring_noise_free_and_seeded():
    clean = data.load("ring", n_samples=16, noise=0.0, seed=0)
    np.testing.assert_allclose(clean.train.input, toys.ring_centers()[clean.train.target],
                               atol=1e-6)
    a, b = data.load("ring", seed=5), data.load("ring", seed=5)
    np.testing.assert_array_equal(a.train.input, b.train.input)
    assert not np.array_equal(a.train.input, data.load("ring", seed=6).train.input)
    assert len(a.train) == data.DATASETS["ring"].defaults["n_samples"]
    assert data.DATASETS["ring"].is_2d and data.DATASETS["ring"].num_classes == 8


def test_reverse_pairs_are_reversals():
    ds = data.load("reverse", n_samples=300, seed=1)
    L = sequences.REVERSE_LENGTH
    assert ds.feature_shape == (L,) and ds.target_shape == (L,)
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert data.DATASETS["reverse"].is_sequence and not data.DATASETS["reverse"].is_2d
    for split in (ds.train, ds.val):
        assert split.input.dtype == np.int64 and split.input.shape == (300, L)
        assert split.target.dtype == np.int64 and split.target.shape == (300, L)
        np.testing.assert_array_equal(split.target, split.input[:, ::-1])
        # tokens uniform over 0..9: each digit is about 10% of 2,400 tokens
        counts = np.bincount(split.input.ravel(), minlength=10)
        assert counts.min() > 180 and counts.max() < 300
    assert not np.array_equal(ds.train.input, ds.val.input)


def test_reverse_is_seeded_and_batches():
    a = data.load("reverse", n_samples=50, seed=3)
    np.testing.assert_array_equal(a.train.input, data.load("reverse", n_samples=50,
                                                           seed=3).train.input)
    x, y = data.Loader(a.train, batch_size=8, rng=0).next_batch()
    assert x.shape == (8, 8) and y.shape == (8, 8)
    np.testing.assert_array_equal(y, x[:, ::-1])
    assert len(data.load("reverse").train) == 2000
    with pytest.raises(ValueError, match="n_samples"):
        data.load("reverse", n_samples=2)


def test_split_accepts_tokens_and_sequence_targets_only_with_matching_dataset():
    s = data.Split(input=np.zeros((3, 4), np.int64), target=np.zeros((3, 4), np.int64))
    assert len(s) == 3
    with pytest.raises(ValueError, match="float32"):
        data.Split(input=np.zeros((3, 4), np.int32), target=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="target_shape"):  # targets (3, 4) but declared ()
        data.Dataset("t", s, None, 2, (4,), None, ("a", "b"))
    ok = data.Dataset("t", s, None, 2, (4,), None, ("a", "b"), target_shape=(4,))
    assert ok.target_shape == (4,)
