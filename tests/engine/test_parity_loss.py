"""Losses: behaviour, and parity with torch in float64 beyond the registry cases (which
test_parity.py runs against torch): clamps and extremes, zero targets, errors, the nn loss
modules, the Gaussian KL against torch.distributions, and nll_loss with class weights and
ignore_index."""

import numpy as np
import pytest

import playground.engine.testing  # noqa: F401  (loads the op registry first)
from playground.engine import Tensor, functional as F, nn
from playground.engine import loss as L
from playground.engine.testing import OpCase, gradcheck


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _t(torch, a, grad=True):
    return torch.tensor(a, requires_grad=grad)


def _both(torch, ours_fn, theirs_fn, inputs, rtol=1e-12, atol=1e-14, seed=0):
    """Run both on float64 inputs (each differentiated); compare values and grads."""
    ours = [Tensor(a.copy(), requires_grad=True) for a in inputs]
    theirs = [_t(torch, a) for a in inputs]
    yo, yt = ours_fn(*ours), theirs_fn(*theirs)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=rtol, atol=atol)
    v = np.random.default_rng(seed).standard_normal(yo.shape)
    yo.backward(v)
    yt.backward(torch.from_numpy(v))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=atol)


RNG = np.random.default_rng(42)


# -- binary cross-entropy -----------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_clamps_log_at_minus_100_as_torch(torch, reduction):
    x = np.array([0.0, 1.0, 0.3, 1e-60, 1 - 1e-16, 0.5])
    t = np.array([1.0, 0.0, 0.7, 1.0, 0.0, 1.0])
    yo = F.binary_cross_entropy(Tensor(x), Tensor(t), reduction=reduction)
    yt = torch.nn.functional.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(t),
                                                  reduction=reduction)
    np.testing.assert_allclose(yo.data, yt.numpy(), rtol=1e-14)
    assert np.isfinite(yo.data).all()


def test_bce_input_gradient_at_the_clamp_matches_torch(torch):
    x = np.array([1e-13, 0.999999, 0.5])
    t = np.array([1.0, 0.0, 0.25])
    xo, xt = Tensor(x.copy(), requires_grad=True), _t(torch, x)
    F.binary_cross_entropy(xo, t, reduction="sum").backward()
    torch.nn.functional.binary_cross_entropy(xt, torch.from_numpy(t),
                                             reduction="sum").backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-12)


def test_bce_weight_broadcasts_and_errors():
    x, t = Tensor(np.full((2, 3), 0.5)), np.ones((2, 3))
    y = F.binary_cross_entropy(x, t, weight=np.array([1.0, 2.0, 0.0]), reduction="none")
    np.testing.assert_allclose(y.data, np.log(2) * np.array([[1, 2, 0], [1, 2, 0]]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(Tensor(np.array([0.5, 1.5])), np.ones(2))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(Tensor(np.array([0.5, np.nan])), np.ones(2))
    with pytest.raises(ValueError, match=r"target shape \(2, 1\) differs from input shape"):
        F.binary_cross_entropy(x, np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"weight of shape \(2,\) does not broadcast"):
        F.binary_cross_entropy(x, t, weight=np.ones(2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.binary_cross_entropy(x, t, reduction="avg")


@pytest.mark.parametrize("scale", [1.0, 50.0, 1000.0])
def test_bce_with_logits_is_stable_for_extreme_logits(torch, scale):
    x = RNG.standard_normal((4, 3)) * scale
    t = RNG.uniform(0, 1, (4, 3))
    p = RNG.uniform(0.5, 3.0, 3)
    w = RNG.uniform(0.5, 2.0, (4, 1))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        _both(torch, lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, weight=w, pos_weight=p, reduction="sum"),
            lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
                a, b, weight=torch.from_numpy(w), pos_weight=torch.from_numpy(p),
                reduction="sum"), [x, t])


def test_bce_with_logits_equals_bce_of_sigmoid():
    x = RNG.standard_normal((3, 4))
    t = RNG.uniform(0, 1, (3, 4))
    a = F.binary_cross_entropy_with_logits(Tensor(x), t).item()
    b = F.binary_cross_entropy(F.sigmoid(Tensor(x)), t).item()
    assert a == pytest.approx(b, rel=1e-12)


def test_bce_with_logits_pos_weight_errors():
    with pytest.raises(ValueError, match=r"pos_weight of shape \(4,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros((2, 3))), np.zeros((2, 3)),
                                           pos_weight=np.ones(4))


# -- l1, smooth l1 ------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_matches_torch(torch, beta, reduction):
    x, t = RNG.standard_normal((4, 5)) * 2, RNG.standard_normal((4, 5))
    _both(torch, lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
          lambda a, b: torch.nn.functional.smooth_l1_loss(a, b, reduction=reduction,
                                                          beta=beta), [x, t])


def test_l1_and_smooth_l1_at_equal_points_follow_torch(torch):
    x = np.array([1.0, 2.0, -3.0])
    t = np.array([1.0, 0.0, -3.0])
    for ours, theirs in [(F.l1_loss, torch.nn.functional.l1_loss),
                         (F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss)]:
        _both(torch, lambda a, b: ours(a, b, reduction="sum"),
              lambda a, b: theirs(a, b, reduction="sum"), [x, t])


def test_smooth_l1_zero_beta_is_l1_and_negative_beta_fails():
    x, t = Tensor(RNG.standard_normal(6)), RNG.standard_normal(6)
    assert F.smooth_l1_loss(x, t, beta=0.0).item() == F.l1_loss(x, t).item()
    with pytest.raises(ValueError, match="negative values for beta"):
        F.smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(ValueError, match="differs from input shape"):
        F.l1_loss(x, np.zeros((6, 1)))


# -- kl_div -------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
def test_kl_div_with_zero_targets_matches_torch(torch, reduction):
    x = np.log(RNG.dirichlet(np.ones(4), size=3))
    t = RNG.dirichlet(np.ones(4), size=3)
    t[0, 1] = t[2, 3] = 0.0
    xo, xt = Tensor(x.copy(), requires_grad=True), _t(torch, x)
    to, tt = Tensor(t.copy(), requires_grad=True), _t(torch, t)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yt = torch.nn.functional.kl_div(xt, tt, reduction=reduction)
    yo = F.kl_div(xo, to, reduction=reduction)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-13)
    v = np.ones(yo.shape)
    yo.backward(v)
    yt.backward(torch.from_numpy(v))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(to.grad, tt.grad.numpy(), rtol=1e-13)  # nan at t = 0, too
    assert np.isnan(to.grad[0, 1]) and np.isfinite(to.grad[0, 0])


def test_kl_div_batchmean_is_the_true_kl_per_sample():
    p = RNG.dirichlet(np.ones(5), size=4)
    q = RNG.dirichlet(np.ones(5), size=4)
    true = (p * np.log(p / q)).sum(axis=1).mean()
    assert F.kl_div(Tensor(np.log(q)), p, reduction="batchmean").item() == \
        pytest.approx(true, rel=1e-12)
    assert F.kl_div(Tensor(np.log(q)), np.log(p), reduction="batchmean",
                    log_target=True).item() == pytest.approx(true, rel=1e-12)
    with pytest.raises(ValueError, match="'batchmean'"):
        F.kl_div(Tensor(np.log(q)), p, reduction="avg")
    with pytest.raises(ValueError, match="'batchmean'"):
        F.l1_loss(Tensor(q), p, reduction="batchmean")


# -- Gaussian KL --------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "mean", "none"])
def test_gaussian_kl_equals_torch_distributions(torch, reduction):
    mu, logvar = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3))
    D = torch.distributions

    def theirs(m, lv):
        kl = D.kl_divergence(D.Normal(m, (0.5 * lv).exp()),
                             D.Normal(torch.zeros_like(m), torch.ones_like(m)))
        return {"sum": kl.sum(), "batchmean": kl.sum() / 5, "mean": kl.mean(),
                "none": kl}[reduction]

    _both(torch, lambda m, lv: F.gaussian_kl(m, lv, reduction=reduction), theirs,
          [mu, logvar])


def test_gaussian_kl_is_zero_at_the_prior_and_checks_shapes():
    assert F.gaussian_kl(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 3)))).item() == 0
    with pytest.raises(ValueError, match="mu shape .* and logvar shape .* differ"):
        F.gaussian_kl(Tensor(np.zeros((2, 3))), Tensor(np.zeros(3)))
    doc = F.gaussian_kl.__doc__
    assert "Kingma & Welling" in doc and "Appendix B" in doc and "mu_j^2" in doc


# -- nll_loss with weight and ignore_index ---------------------------------------------


NLL_SHAPES = [((5, 4), (5,)), ((1, 3), (1,)), ((2, 3, 4, 2), (2, 4, 2)), ((3,), ())]


@pytest.mark.parametrize("xshape, tshape", NLL_SHAPES, ids=[str(s) for s, _ in NLL_SHAPES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_weight_and_ignore_index_match_torch(torch, xshape, tshape, reduction,
                                                      weighted):
    c = xshape[1] if len(xshape) > 1 else xshape[0]
    x = RNG.standard_normal(xshape)
    t = RNG.integers(0, c, tshape)
    if t.ndim:
        t.reshape(-1)[0] = -100
        t.reshape(-1)[-1] = 1
    w = RNG.uniform(0.5, 2.0, c) if weighted else None
    wt = None if w is None else torch.from_numpy(w)
    _both(torch, lambda a: L.nll_loss(a, t, weight=w, reduction=reduction),
          lambda a: torch.nn.functional.nll_loss(a, torch.from_numpy(t), weight=wt,
                                                 reduction=reduction), [x])
    t1 = np.where(t < 0, 0, t)  # now ignore class 1 instead
    _both(torch, lambda a: L.nll_loss(a, t1, weight=w, ignore_index=1, reduction=reduction),
          lambda a: torch.nn.functional.nll_loss(a, torch.from_numpy(t1), weight=wt,
                                                 ignore_index=1, reduction=reduction), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weighted_gradcheck(reduction):
    w = np.array([0.5, 2.0, 1.0, 3.0])
    t = np.array([0, 3, -100, 1, 3, 2])
    gradcheck(OpCase(f"nll_weighted_{reduction}", lambda F_, x: L.nll_loss(
        F_.log_softmax(x, dim=1), t, weight=w, reduction=reduction),
        lambda rng: (rng.standard_normal((6, 4)),)))
    t4 = np.array([[[0, 2], [1, -100]], [[2, 2], [0, 1]]])
    gradcheck(OpCase(f"nll_weighted_4d_{reduction}", lambda F_, x: L.nll_loss(
        x, t4, weight=w[:3], reduction=reduction),
        lambda rng: (rng.standard_normal((2, 3, 2, 2)),)))


def test_nll_loss_equals_functional_nll_loss_without_extras():
    x = F.log_softmax(Tensor(RNG.standard_normal((5, 3))), dim=1)
    t = RNG.integers(0, 3, 5)
    for r in ("mean", "sum", "none"):
        np.testing.assert_allclose(L.nll_loss(x, t, reduction=r).data,
                                   F.nll_loss(x, t, reduction=r).data, rtol=1e-15)


def test_nll_loss_errors():
    x = Tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="integer dtype"):
        L.nll_loss(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"needs target of shape \(3,\)"):
        L.nll_loss(x, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(IndexError, match="target class 4 is out of range for C=4"):
        L.nll_loss(x, np.array([0, 4, 1]))


# -- nn loss modules ----------------------------------------------------------------------


def _module_cases():
    w = RNG.uniform(0.5, 2.0, 4)
    p = RNG.uniform(0.5, 2.0, 4)
    prob, logits = RNG.uniform(0.05, 0.95, (3, 4)), RNG.standard_normal((3, 4))
    soft = RNG.uniform(0, 1, (3, 4))
    logq = np.log(RNG.dirichlet(np.ones(4), size=3))
    return [
        ("BCELoss", {}, prob, soft),
        ("BCELoss", {"weight": w, "reduction": "sum"}, prob, soft),
        ("BCEWithLogitsLoss", {}, logits, soft),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": p, "reduction": "none"}, logits,
         soft),
        ("L1Loss", {}, logits, soft),
        ("L1Loss", {"reduction": "none"}, logits, soft),
        ("SmoothL1Loss", {"beta": 0.4}, logits * 2, soft),
        ("KLDivLoss", {"reduction": "batchmean"}, logq, soft),
        ("KLDivLoss", {"reduction": "sum", "log_target": True}, logq, logits),
    ]


@pytest.mark.parametrize("case", range(9))
def test_loss_modules_match_torch(torch, case):
    name, kwargs, x, t = _module_cases()[case]
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
           for k, v in kwargs.items()}
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**tkw)
    _both(torch, ours, theirs, [x, t])


def test_loss_module_reduction_is_checked_and_shown():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.L1Loss(reduction="batchmean")
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"
    assert repr(nn.SmoothL1Loss()) == "SmoothL1Loss()"
    with pytest.raises(ValueError, match="deprecated"):
        nn.BCELoss(size_average=True)


@pytest.mark.parametrize("fn", [
    lambda x, t: F.binary_cross_entropy(F.sigmoid(x), t),
    lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(3)),
    lambda x, t: F.l1_loss(x, t), lambda x, t: F.smooth_l1_loss(x, t, beta=0.5),
    lambda x, t: F.kl_div(F.log_softmax(x, dim=1), t, reduction="batchmean"),
    lambda x, t: F.gaussian_kl(x, x * 0.5),
])
def test_float32_stays_float32_with_float64_numpy_targets(fn):
    x = Tensor(RNG.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = fn(x, RNG.uniform(0.1, 0.9, (2, 3)))  # a float64 ndarray target is cast
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_functional_and_nn_namespaces_export_the_family():
    for name in L.__all__:
        assert getattr(F, name) is getattr(L, name)
    assert F.nll_loss is not L.nll_loss  # functional's stays until the lead swaps it
    for name in ("BCELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss", "KLDivLoss"):
        assert name in nn.__all__ and hasattr(nn, name)
