"""init: gains, fans, bounds and variances (Glorot & Bengio 2010; He et al. 2015)."""

import math

import numpy as np
import pytest

from playground.engine import Tensor, init, manual_seed


def _t(*shape):
    return Tensor(np.zeros(shape, np.float32))


def test_gains():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "a")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(_t(4, 3)) == (3, 4)
    assert init._calculate_fan_in_and_fan_out(_t(8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(_t(5))


def test_xavier_uniform_bound_and_variance():
    w = init.xavier_uniform_(_t(300, 200), gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    assert w.data.var() == pytest.approx(4.0 * 2 / 500, rel=0.02)


@pytest.mark.parametrize("mode, fan", [("fan_in", 200), ("fan_out", 300)])
def test_kaiming_uniform_bound_and_variance(mode, fan):
    w = init.kaiming_uniform_(_t(300, 200), mode=mode, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    assert w.data.var() == pytest.approx(2 / fan, rel=0.02)


def test_normal_inits():
    w = init.kaiming_normal_(_t(300, 200), nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    w = init.xavier_normal_(_t(300, 200))
    assert w.data.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    w = init.normal_(_t(300, 200), mean=1.0, std=0.5)
    assert w.data.mean() == pytest.approx(1.0, abs=0.01)


def test_fill_inits_in_place():
    w = _t(2, 3)
    data = w.data
    assert init.constant_(w, 0.5) is w and w.data is data and np.all(w.data == 0.5)
    init.ones_(w)
    assert np.all(w.data == 1)
    init.zeros_(w)
    assert np.all(w.data == 0)
    init.uniform_(w, 2.0, 3.0)
    assert w.data.min() >= 2.0 and w.data.max() < 3.0
    assert w.dtype == np.float32


def test_inits_do_not_record_on_the_tape():
    w = Tensor(np.zeros((3, 3), np.float32), requires_grad=True)
    init.xavier_uniform_(w)
    assert w.is_leaf and w.grad_fn is None


def test_manual_seed_reproducible():
    manual_seed(7)
    a = init.normal_(_t(5)).data.copy()
    manual_seed(7)
    b = init.normal_(_t(5)).data.copy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="non-negative"):
        manual_seed(-1)
