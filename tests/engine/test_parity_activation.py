"""Activations, dropout and embedding: behaviour, and parity with torch in float64 beyond
the registry cases (which test_parity.py runs against torch): tails, kinks, thresholds,
the nn modules with state dicts both ways, dropout's statistics, embedding's padding row.
"""

import math

import numpy as np
import pytest

import playground.engine.testing  # noqa: F401  (loads the op registry first)
from playground.engine import Tensor, functional as F, manual_seed, nn
from playground.engine import activation as A
from playground.engine.cases.activation import fixed_dropout_mask
from playground.engine.testing import OpCase, gradcheck


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _pair(torch, a):
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


def _check_both(torch, ours_fn, theirs_fn, x, rtol=1e-12, atol=1e-300, seed=0):
    """Values and input gradients of ours_fn(x) and theirs_fn(x) agree."""
    xo, xt = _pair(torch, x)
    yo, yt = ours_fn(xo), theirs_fn(xt)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=rtol, atol=atol)
    v = np.random.default_rng(seed).standard_normal(yo.shape)
    yo.backward(v)
    yt.backward(torch.from_numpy(v))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=rtol, atol=atol)


# -- erf ----------------------------------------------------------------------------------

WIDE = np.concatenate([np.linspace(-30, 30, 60001), [0.0, -0.0, 0.46875, -0.46875, 4.0,
                                                     -4.0, 1e-300, -1e-12, 26.5, -26.5]])


def test_erf_and_erfc_are_exact_to_float64_rounding():
    ref = np.array([math.erf(v) for v in WIDE])
    refc = np.array([math.erfc(v) for v in WIDE])
    got, gotc = A._erf(WIDE), A._erfc(WIDE)
    tiny = np.finfo(np.float64).tiny
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=tiny)
    normal = refc > 1e-300  # erfc's relative accuracy down to where it goes subnormal
    np.testing.assert_allclose(gotc[normal], refc[normal], rtol=2e-15)
    np.testing.assert_allclose(gotc[~normal], refc[~normal], rtol=0, atol=1e-300)


def test_erf_special_values_shapes_and_dtypes():
    x = np.array([np.nan, np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(A._erf(x), [np.nan, 1.0, -1.0, 0.0])
    np.testing.assert_array_equal(A._erfc(x), [np.nan, 0.0, 2.0, 1.0])
    assert A._erf(np.zeros((2, 0, 3))).shape == (2, 0, 3)
    assert float(A._erf(np.float64(0.5))) == pytest.approx(math.erf(0.5), rel=1e-16)
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    assert A._erf(x32).dtype == np.float32 and A._erfc(x32).dtype == np.float32
    np.testing.assert_allclose(A._erf(x32), [math.erf(v) for v in x32], atol=3e-7)


def test_erf_op_gradient():
    gradcheck(OpCase("erf", lambda F, x: A.Erf.apply(x * 3), lambda rng: (
        rng.standard_normal((3, 4)),)))


# -- elementwise activations vs torch -------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_over_a_wide_range_matches_torch(torch, approximate):
    x = np.linspace(-12, 12, 2401)
    # atol: in the far left tail torch's 1 + erf (and 1 + tanh) cancel; ours does not
    _check_both(torch, lambda t: F.gelu(t, approximate=approximate),
                lambda t: torch.nn.functional.gelu(t, approximate=approximate), x,
                rtol=1e-10, atol=1e-14)


def test_gelu_tail_is_accurate_where_1_plus_erf_cancels(torch):
    # x Phi(x) for x << 0: ours goes through erfc, so it stays accurate relative to the
    # true value (math.erfc), where torch's 0.5 (1 + erf) has only absolute accuracy.
    # (rtol: erfc(y) amplifies y's rounding by 2 y^2, ~1e-13 at y = 21.)
    x = np.array([-8.0, -15.0, -30.0])
    true = x * 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.gelu(Tensor(x)).data, true, rtol=1e-12)
    theirs = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(F.gelu(Tensor(x)).data, theirs, rtol=0, atol=1e-15)


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 20.0), (0.5, 5.0),
                                             (3.0, 1.0)])
def test_softplus_both_branches_match_torch(torch, beta, threshold):
    x = np.linspace(-60, 60, 1201) + 0.0123  # off the exact threshold
    _check_both(torch, lambda t: F.softplus(t, beta, threshold),
                lambda t: torch.nn.functional.softplus(t, beta, threshold), x,
                rtol=1e-12, atol=1e-300)


def test_softplus_huge_inputs_do_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.softplus(Tensor(np.array([-1e4, 1e4, 700.0, 750.0]))).data
    np.testing.assert_allclose(y, [0.0, 1e4, 700.0, 750.0])


@pytest.mark.parametrize("name, ours, theirs", [
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.1), "leaky_relu"),
    ("elu", lambda t: F.elu(t, 0.7), "elu"),
])
def test_kinks_at_zero_follow_torch(torch, name, ours, theirs):
    x = np.array([-1.0, -0.0, 0.0, 1e-300, 2.0])
    kw = {"negative_slope": 0.1} if name == "leaky_relu" else {"alpha": 0.7}
    _check_both(torch, ours, lambda t: getattr(torch.nn.functional, theirs)(t, **kw), x)


def test_elu_large_negative_saturates_without_warnings():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = Tensor(np.array([-1e4, -50.0, 3.0]), requires_grad=True)
        y = F.elu(x, alpha=2.0)
        y.sum().backward()
    np.testing.assert_allclose(y.data, [-2.0, 2 * math.expm1(-50), 3.0])
    np.testing.assert_allclose(x.grad, [0.0, 2 * math.exp(-50), 1.0])


@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((2, 4, 3), 1), ((2, 3), 0)])
def test_glu_matches_torch(torch, shape, dim):
    x = np.random.default_rng(0).standard_normal(shape)
    _check_both(torch, lambda t: F.glu(t, dim), lambda t: torch.nn.functional.glu(t, dim), x)


def test_glu_rejects_odd_sizes():
    with pytest.raises(ValueError, match="halving dimension must be even.*size 5"):
        F.glu(Tensor(np.zeros((3, 5))))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        F.gelu(Tensor(np.zeros(3)), approximate="erf")
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        nn.GELU("fast")


@pytest.mark.parametrize("fn", [
    lambda t: F.leaky_relu(t), lambda t: F.elu(t), lambda t: F.gelu(t),
    lambda t: F.gelu(t, approximate="tanh"), lambda t: F.glu(t), lambda t: F.softplus(t),
    lambda t: F.softplus(t, beta=2.0), lambda t: F.dropout(t, 0.3),
])
def test_float32_stays_float32(fn):
    x = Tensor(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32),
               requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


# -- nn modules ---------------------------------------------------------------------------

MODULES = [
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {}),
    ("ELU", (), {"alpha": 0.5}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("GLU", (), {}), ("GLU", (1,), {}), ("Softplus", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 3.0}),
]


@pytest.mark.parametrize("name, args, kwargs", MODULES,
                         ids=[f"{n}{a}{k}" for n, a, k in MODULES])
def test_activation_modules_match_torch(torch, name, args, kwargs):
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert ours.state_dict() == {} and dict(theirs.state_dict()) == {}
    x = np.random.default_rng(1).standard_normal((3, 4, 6)) * 2
    _check_both(torch, ours, theirs, x, rtol=1e-12, atol=1e-14)  # atol: GELU's tail


def test_module_reprs_name_their_settings():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"


# -- dropout ------------------------------------------------------------------------------


def test_dropout_statistics_and_scaling():
    manual_seed(0)
    x = Tensor(np.ones((400, 500)))
    y = F.dropout(x, p=0.3).data
    assert set(np.unique(y)) == {0.0, 1 / 0.7}
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.005)
    assert y.mean() == pytest.approx(1.0, abs=0.01)  # inverted dropout keeps the mean


def test_dropout_gradient_is_the_saved_mask():
    manual_seed(3)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 7)), requires_grad=True)
    y = F.dropout(x, p=0.4)
    mask = y.grad_fn.mask
    np.testing.assert_array_equal(y.data, x.data * mask)
    g = np.random.default_rng(1).standard_normal((5, 7))
    y.backward(g)
    np.testing.assert_array_equal(x.grad, g * mask)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.6}


def test_dropout_is_reproducible_with_manual_seed():
    x = Tensor(np.ones((6, 6)))
    manual_seed(11)
    a = F.dropout(x).data
    b = F.dropout(x).data
    manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x).data, a)
    assert not np.array_equal(a, b)


def test_fixed_mask_helper_leaves_the_generator_alone():
    manual_seed(5)
    expected = np.random.default_rng(5).random(3)
    manual_seed(5)
    m1 = fixed_dropout_mask((4, 4), 0.5)
    m2 = fixed_dropout_mask((4, 4), 0.5)
    np.testing.assert_array_equal(m1, m2)
    from playground.engine import _random
    np.testing.assert_array_equal(_random.generator().random(3), expected)


def test_dropout_edge_probabilities_and_errors():
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert F.dropout(x, p=0.0) is x
    assert F.dropout(x, p=0.9, training=False) is x
    y = F.dropout(x, p=1.0)
    np.testing.assert_array_equal(y.data, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1, but got"):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="between 0 and 1, but got"):
            nn.Dropout(p)


def test_dropout_module_honours_train_and_eval():
    d = nn.Dropout(0.5)
    model = nn.Sequential(nn.Linear(3, 3), d)
    x = Tensor(np.ones((50, 3)))
    assert (model(x).data == 0).any()
    model.eval()
    assert not d.training
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    assert (model(x).data == 0).any()


def test_dropout_matches_torch_in_distribution_and_semantics(torch):
    x = np.random.default_rng(0).standard_normal((300, 300))
    manual_seed(0)
    torch.manual_seed(0)
    ours = F.dropout(Tensor(x), p=0.25).data
    theirs = torch.nn.functional.dropout(torch.from_numpy(x), p=0.25).numpy()
    for y in (ours, theirs):  # kept elements are x / (1 - p), the rest 0
        kept = y != 0
        np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-15)
        assert (~kept).mean() == pytest.approx(0.25, abs=0.01)
    td = torch.nn.Dropout(0.25).eval()
    np.testing.assert_array_equal(nn.Dropout(0.25).eval()(Tensor(x)).data,
                                  td(torch.from_numpy(x)).numpy())


# -- embedding ----------------------------------------------------------------------------


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_functional_matches_torch_including_padding(torch, padding_idx):
    w = np.random.default_rng(0).standard_normal((6, 3))
    idx = np.array([[2, 5, 2, 0], [1, 2, 5, 5]])
    wo, wt = _pair(torch, w)
    yo = F.embedding(idx, wo, padding_idx=padding_idx)
    yt = torch.nn.functional.embedding(torch.from_numpy(idx), wt, padding_idx=padding_idx)
    np.testing.assert_array_equal(yo.data, yt.detach().numpy())
    g = np.random.default_rng(1).standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(wo.grad, wt.grad.numpy(), rtol=1e-14)
    if padding_idx is not None:
        assert not wo.grad[padding_idx].any()


def test_embedding_module_state_dict_both_ways_and_grads(torch):
    theirs = torch.nn.Embedding(7, 4, padding_idx=3).double()
    ours = nn.Embedding(7, 4, padding_idx=3, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[3, 1, 6], [0, 3, 1]])
    yo, yt = ours(Tensor(idx)), theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(yo.data, yt.detach().numpy())
    (yo ** 2).sum().backward()
    (yt ** 2).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-14)
    # ours -> torch
    other = nn.Embedding(7, 4, dtype=np.float64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in other.state_dict().items()})
    np.testing.assert_array_equal(theirs.weight.detach().numpy(), other.weight.data)


def test_embedding_init_is_standard_normal_with_zero_padding_row(torch):
    manual_seed(0)
    ours = nn.Embedding(400, 250, padding_idx=-2)
    theirs = torch.nn.Embedding(400, 250, padding_idx=-2)
    assert ours.padding_idx == theirs.padding_idx == 398
    assert ours.weight.dtype == np.float32 and ours.weight.shape == (400, 250)
    w = ours.weight.data
    assert not w[398].any() and not theirs.weight.detach().numpy()[398].any()
    rest = np.delete(w, 398, axis=0)
    assert rest.mean() == pytest.approx(0.0, abs=0.01)
    assert rest.std() == pytest.approx(1.0, abs=0.01)


def test_embedding_from_pretrained_and_errors():
    w = np.arange(12.0).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(Tensor(np.array([3, 0]))).data, w[[3, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(TypeError, match="integer dtype"):
        emb(Tensor(np.array([0.0, 1.0])))
    with pytest.raises(IndexError, match="index 4 is out of range for num_embeddings=4"):
        emb(np.array([1, 4]))
    with pytest.raises(ValueError, match="padding_idx 5 must be within"):
        nn.Embedding(4, 2, padding_idx=5)
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(np.zeros(3))
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(4, 2, max_norm=1.0)


def test_embedding_float32_table_and_list_indices():
    emb = nn.Embedding(5, 2)
    y = emb([[0, 4], [4, 4]])
    assert y.shape == (2, 2, 2) and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [1, 0, 0, 0, 3])
    assert emb.weight.grad.dtype == np.float32


def test_functional_and_nn_namespaces_export_the_family():
    for name in A.__all__:
        assert getattr(F, name) is getattr(A, name)
    for name in ("LeakyReLU", "ELU", "GELU", "GLU", "Softplus", "Dropout", "Embedding"):
        assert name in nn.__all__ and hasattr(nn, name)
