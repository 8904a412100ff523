"""The regression generator: seeded, the stated function plus noise of the stated std,
outliers only in training and only where stated, and clear errors for bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from playground.data.regression import FUNCTIONS, OUTLIER_SHIFT, _f, make_regression


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("d", [1, 2])
def test_targets_are_the_function_plus_noise_of_the_stated_std(function, d):
    ds = make_regression(function, d, n_samples=4000, noise=0.2, seed=3)
    for split in (ds.train, ds.val):
        assert split.input.shape == (4000, d) and split.input.dtype == np.float32
        assert split.target.shape == (4000, 1) and split.target.dtype == np.float32
        resid = split.target[:, 0] - _f(function, split.input.astype(np.float64))
        assert abs(resid.mean()) < 0.02 and abs(resid.std() - 0.2) < 0.01
    assert ds.feature_shape == (d,) and ds.target_shape == (1,)


def test_linear_truth_and_seeding():
    a, b = make_regression("linear", seed=5), make_regression("linear", seed=5)
    np.testing.assert_array_equal(a.train.input, b.train.input)
    np.testing.assert_array_equal(a.val.target, b.val.target)
    assert not np.array_equal(a.train.input, a.val.input)  # held-out points are new ones
    assert not np.array_equal(a.train.input, make_regression("linear", seed=6).train.input)
    clean = make_regression("linear", n_samples=500, noise=0.0)
    x, y = clean.train.input[:, 0], clean.train.target[:, 0]
    np.testing.assert_allclose(y, clean.truth["slope"] * x + clean.truth["intercept"],
                               atol=1e-6)


def test_outliers_are_raised_on_the_right_half_of_training_only():
    ds = make_regression("linear", n_samples=400, noise=0.0, outliers=0.1, seed=1)
    tr = ds.train
    assert tr.outlier.sum() == 40 and not ds.val.outlier.any()
    assert np.all(tr.input[tr.outlier, 0] > 0)
    rise = tr.target[:, 0] - (2 * tr.input[:, 0] + 0.5)
    assert np.all((rise[tr.outlier] >= OUTLIER_SHIFT[0] - 1e-5)
                  & (rise[tr.outlier] <= OUTLIER_SHIFT[1] + 1e-5))
    np.testing.assert_allclose(rise[~tr.outlier], 0, atol=1e-6)
    # least squares is tilted by them, least absolute deviations is not
    X = np.c_[tr.input[:, 0], np.ones(len(tr))]
    l2 = np.linalg.lstsq(X, tr.target[:, 0], rcond=None)[0]
    assert l2[0] > 2.2


@pytest.mark.parametrize("kwargs, words", [
    (dict(function="cubic"), "unknown regression function 'cubic'"),
    (dict(in_features=3), "in_features must be 1 or 2"),
    (dict(noise=-1.0), "noise must be"),
    (dict(outliers=0.6), "outliers must be"),
    (dict(n_samples=2), "n_samples must be"),
])
def test_bad_settings_name_the_setting(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        make_regression(**kwargs)


def test_the_linear_toy_is_separable_by_its_line_with_the_stated_margin():
    from playground.data import load, toys
    ds = load("linear", n_samples=500, noise=0.0, seed=2)
    x, y = ds.train.input.astype(np.float64), ds.train.target
    normal = np.array([-np.sin(toys.LINEAR_ANGLE), np.cos(toys.LINEAR_ANGLE)])
    side = x @ normal
    assert np.all((side > 0) == (y == 1))
    assert np.abs(side).min() >= toys.LINEAR_MARGIN - 1e-6
    assert abs(int(y.sum()) - 250) <= 1
