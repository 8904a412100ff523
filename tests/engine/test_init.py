"""init: gains, fans, bounds and variances (Glorot & Bengio 2010; He et al. 2015)."""

import math

import numpy as np
import pytest

from playground.engine import Tensor, init, manual_seed


def _t(*shape):
    return Tensor(np.zeros(shape, np.float32))


@pytest.fixture(autouse=True)
def _seeded():
    """The statistical checks below are ~5 sigma wide; seeding makes them deterministic."""
    manual_seed(1234)


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


# -- LeCun, conv-shaped tensors, and torch's conventions ----------------------------------


def test_lecun_normal_is_kaiming_normal_linear():
    w = init.lecun_normal_(_t(400, 250))
    assert w.data.std() == pytest.approx(1 / math.sqrt(250), rel=0.01)
    assert w.data.mean() == pytest.approx(0.0, abs=0.002)
    manual_seed(3)
    a = init.lecun_normal_(_t(5, 4, 3, 3)).data.copy()
    manual_seed(3)
    b = init.kaiming_normal_(_t(5, 4, 3, 3), mode="fan_in", nonlinearity="linear").data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.lecun_normal_(_t(3))


CONV = (64, 32, 5, 5)  # (out_channels, in_channels, kH, kW): fan_in 800, fan_out 1600


@pytest.mark.parametrize("fn, kwargs, bound", [
    (init.xavier_uniform_, {}, math.sqrt(6 / (800 + 1600))),
    (init.xavier_uniform_, {"gain": init.calculate_gain("tanh")},
     5 / 3 * math.sqrt(6 / 2400)),
    (init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(2) * math.sqrt(3 / 800)),
    (init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"},
     math.sqrt(2) * math.sqrt(3 / 1600)),
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, 1 / math.sqrt(800)),  # Conv2d's default
])
def test_uniform_inits_on_conv_weights_have_exact_bounds(fn, kwargs, bound):
    w = fn(_t(*CONV), **kwargs).data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.995 * bound
    assert w.var() == pytest.approx(bound ** 2 / 3, rel=0.03)


@pytest.mark.parametrize("fn, kwargs, var", [
    (init.xavier_normal_, {}, 2 / 2400),
    (init.xavier_normal_, {"gain": 2.0}, 4 * 2 / 2400),
    (init.kaiming_normal_, {"nonlinearity": "relu"}, 2 / 800),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, 2 / 1600),
    (init.kaiming_normal_, {"a": 0.2}, 2 / (1 + 0.04) / 800),
    (init.lecun_normal_, {}, 1 / 800),
    (init.normal_, {"std": 0.02}, 0.02 ** 2),
])
def test_normal_inits_on_conv_weights_have_their_variance(fn, kwargs, var):
    w = fn(_t(*CONV), **kwargs).data
    assert w.var() == pytest.approx(var, rel=0.03)
    assert abs(w.mean()) < 4 * math.sqrt(var / w.size)


def test_zero_element_tensors_are_left_alone():
    for fn in (init.kaiming_uniform_, init.kaiming_normal_):
        assert fn(_t(0, 3)).shape == (0, 3)


def test_every_init_docstring_gives_its_variance_and_source():
    for fn, source in [(init.xavier_uniform_, "Glorot & Bengio"),
                       (init.xavier_normal_, "Glorot & Bengio"),
                       (init.kaiming_uniform_, "He et al."),
                       (init.kaiming_normal_, "He et al."),
                       (init.lecun_normal_, "LeCun")]:
        assert "Var = " in fn.__doc__ and source in fn.__doc__, fn.__name__
    for fn in (init.zeros_, init.normal_, init.uniform_):
        assert "Var = " in fn.__doc__, fn.__name__


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


@pytest.mark.parametrize("shape", [(3, 5), (8, 3, 3, 3), (4, 2, 5), (16, 1, 2, 3, 4),
                                   (6, 4, 1, 1)])
def test_fans_of_conv_shaped_weights_match_torch(torch, shape):
    assert init._calculate_fan_in_and_fan_out(_t(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("name, kwargs", [
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 1.5}), ("xavier_normal_", {}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "leaky_relu", "a": 0.1}),
    ("kaiming_normal_", {"nonlinearity": "selu"}),
    ("kaiming_normal_", {"nonlinearity": "tanh"}),
    ("normal_", {"mean": 0.5, "std": 0.1}), ("zeros_", {}),
])
def test_init_distributions_match_torch(torch, name, kwargs):
    ours = getattr(init, name)(_t(*CONV), **kwargs).data
    theirs = getattr(torch.nn.init, name)(torch.zeros(CONV), **kwargs).numpy()
    if name == "zeros_":
        assert not ours.any() and not theirs.any()
        return
    se = float(theirs.std()) / math.sqrt(theirs.size)  # standard error of one mean
    assert float(ours.mean()) == pytest.approx(float(theirs.mean()), abs=6 * se)
    assert float(ours.var()) == pytest.approx(float(theirs.var()), rel=0.05)
    if "uniform" in name:  # the same bound
        assert float(np.abs(ours).max()) == pytest.approx(float(np.abs(theirs).max()),
                                                          rel=0.01)


def test_lecun_normal_matches_torch_kaiming_normal_linear(torch):
    ours = init.lecun_normal_(_t(*CONV)).data
    theirs = torch.nn.init.kaiming_normal_(torch.zeros(CONV), nonlinearity="linear").numpy()
    assert float(ours.var()) == pytest.approx(float(theirs.var()), rel=0.05)
    assert float(ours.var()) == pytest.approx(1 / 800, rel=0.03)
