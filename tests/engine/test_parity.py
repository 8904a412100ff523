"""Parity with PyTorch in float64: every registry op (forward and gradients), nn.Linear
with state dicts both ways, and SGD/Adam over 50 steps."""

import math

import numpy as np
import pytest

from playground.engine import Tensor, functional, init, manual_seed, nn, optim
from playground.engine.testing import OP_CASES

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _to_torch(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float64:
        return torch.tensor(a, requires_grad=True)
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    if isinstance(a, Tensor):
        return torch.from_numpy(a.data)
    return a


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
def test_op_matches_torch(case):
    rng = np.random.default_rng(1)
    args = case.make_args(rng)
    ours = [Tensor(a.copy(), requires_grad=True)
            if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in args]
    theirs = [_to_torch(a) for a in args]
    out = case.fn(functional, *ours)
    ref = case.fn(TF, *theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    ref.backward(torch.from_numpy(v))
    for a, b in zip(ours, theirs):
        if isinstance(a, Tensor) and a.requires_grad:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_state_dict_both_ways_and_gradients():
    tl = torch.nn.Linear(5, 3).double()
    ours = nn.Linear(5, 3, dtype=np.float64)
    ours.load_state_dict(tl.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 5))
    xt = torch.tensor(x, requires_grad=True)
    xo = Tensor(x.copy(), requires_grad=True)
    yt, yo = tl(xt), ours(xo)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-12)
    (yt ** 2).sum().backward()
    (yo ** 2).sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, dict(tl.named_parameters())[name].grad.numpy(),
                                   rtol=1e-12)
    # ours -> torch
    ours2 = nn.Linear(5, 3, dtype=np.float64)
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in ours2.state_dict().items()})
    np.testing.assert_allclose(tl(torch.from_numpy(x)).detach().numpy(), ours2(Tensor(x)).data,
                               rtol=1e-12)


def test_sequential_keys_match_torch():
    ours = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3, bias=False))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 3, bias=False))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in ours.state_dict().items():
        assert v.shape == tuple(theirs.state_dict()[k].shape)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data,
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


# -- optimizers ---------------------------------------------------------------------------


def _problem():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4))
    t = rng.integers(0, 3, 16)
    return x, t


def _models():
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3)).double()
    ours = nn.Sequential(nn.Linear(4, 8, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 3, dtype=np.float64))
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _train(model, opt, x, t, lib, steps=50):
    for _ in range(steps):
        opt.zero_grad()
        if lib == "torch":
            loss = TF.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(t))
        else:
            loss = functional.cross_entropy(model(Tensor(x)), t)
        loss.backward()
        opt.step()


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, amsgrad=True)),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, kw in OPTIMIZERS])
def test_optimizer_matches_torch_over_50_steps(name, kwargs):
    x, t = _problem()
    ours, theirs = _models()
    before = ours.state_dict()
    _train(ours, getattr(optim, name)(ours.parameters(), **kwargs), x, t, "ours")
    _train(theirs, getattr(torch.optim, name)(theirs.parameters(), **kwargs), x, t, "torch")
    after = ours.state_dict()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(after[key], value.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=key)
    # meaningful only if training moved the weights
    assert max(np.abs(after[k] - before[k]).max() for k in after) > 1e-2


def test_optimizer_param_groups_and_live_lr_match_torch():
    x, t = _problem()
    ours, theirs = _models()
    opt_o = optim.SGD([{"params": ours[0].parameters(), "lr": 0.05},
                       {"params": ours[2].parameters()}], lr=0.2, momentum=0.9)
    opt_t = torch.optim.SGD([{"params": theirs[0].parameters(), "lr": 0.05},
                             {"params": theirs[2].parameters()}], lr=0.2, momentum=0.9)
    _train(ours, opt_o, x, t, "ours", 10)
    _train(theirs, opt_t, x, t, "torch", 10)
    for g_o, g_t in zip(opt_o.param_groups, opt_t.param_groups):
        g_o["lr"] = g_t["lr"] = g_t["lr"] / 4  # a live change from the UI
    _train(ours, opt_o, x, t, "ours", 10)
    _train(theirs, opt_t, x, t, "torch", 10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-6)


def test_float32_training_step_matches_torch():
    x, t = _problem()
    x = x.astype(np.float32)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    ours.load_state_dict(theirs.state_dict())
    _train(ours, optim.Adam(ours.parameters(), lr=0.01), x, t, "ours", 5)
    _train(theirs, torch.optim.Adam(theirs.parameters(), lr=0.01), x, t, "torch", 5)
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].dtype == np.float32
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-4,
                                   atol=1e-5)


# -- init ---------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


@pytest.mark.parametrize("shape", [(3, 5), (8, 3, 3, 3), (4, 2, 5)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(Tensor(np.zeros(shape))) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_linear_default_init_matches_torch_distribution():
    manual_seed(0)
    torch.manual_seed(0)
    ours = nn.Linear(200, 300)
    theirs = torch.nn.Linear(200, 300)
    bound = 1 / math.sqrt(200)
    for name in ("weight", "bias"):
        a = ours.state_dict()[name]
        b = theirs.state_dict()[name].numpy()
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(a).max() > 0.95 * bound  # actually fills the range
        # uniform on [-bound, bound]: variance bound^2 / 3, for both
        assert a.var() == pytest.approx(bound ** 2 / 3, rel=0.1 if a.size < 1000 else 0.02)
        assert a.var() == pytest.approx(b.var(), rel=0.2 if a.size < 1000 else 0.03)


# -- tensor ops beyond the registry: ties, integer results, shapes -------------------------

import playground.engine as E  # noqa: E402


def _pair(a):
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


def _backward_both(out_o, out_t, seed=0):
    v = np.random.default_rng(seed).standard_normal(out_o.shape)
    out_o.backward(v)
    out_t.backward(torch.from_numpy(v))


TIES = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]])


@pytest.mark.parametrize("op", ["max", "min"])
def test_full_max_min_split_ties_evenly_as_torch(op):
    xo, xt = _pair(TIES)
    getattr(xo, op)().backward()
    getattr(xt, op)().backward()
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, False), (-1, True), (0, True)])
def test_dim_max_min_send_ties_to_one_index_as_torch(op, dim, keepdim):
    xo, xt = _pair(TIES)
    ro, rt = getattr(xo, op)(dim, keepdim), getattr(xt, op)(dim, keepdim)
    assert ro.indices.dtype == np.int64
    np.testing.assert_array_equal(ro.indices.data, rt.indices.numpy())
    np.testing.assert_array_equal(ro.values.data, rt.values.detach().numpy())
    ro.values.backward(np.ones(ro.values.shape))
    rt.values.backward(torch.ones(rt.values.shape, dtype=torch.float64))
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())
    # as torch.return_types: unpacking and field names
    values, indices = ro
    assert values is ro.values and indices is ro[1]


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin_match_torch(op, dim, keepdim):
    ours = getattr(Tensor(TIES), op)(dim=dim, keepdim=keepdim)
    theirs = getattr(torch.from_numpy(TIES), op)(dim=dim, keepdim=keepdim)
    assert ours.dtype == np.int64 and not ours.requires_grad
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    np.testing.assert_array_equal(getattr(E, op)(Tensor(TIES), dim, keepdim).data,
                                  theirs.numpy())


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_match_torch(name):
    a = TIES
    b = np.array([2.0, 3.0, 0.0, 5.0])
    sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[name]
    for other_o, other_t in [(Tensor(b), torch.from_numpy(b)), (2.0, 2.0)]:
        ours = eval(f"x {sym} y", {"x": Tensor(a, requires_grad=True), "y": other_o})
        theirs = eval(f"x {sym} y", {"x": torch.from_numpy(a), "y": other_t})
        assert ours.dtype == np.bool_ and not ours.requires_grad and ours.grad_fn is None
        np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("n, arg", [(5, 2), (6, 3), (4, 4), (1, 3), (7, [2, 0, 5])])
def test_split_shapes_match_torch(n, arg):
    x = np.arange(3.0 * n).reshape(3, n)
    ours = Tensor(x).split(arg, dim=1)
    theirs = torch.from_numpy(x).split(arg, dim=1)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.data, q.numpy())


@pytest.mark.parametrize("n, chunks", [(5, 3), (6, 4), (4, 4), (2, 5), (7, 2), (9, 4)])
def test_chunk_shapes_match_torch(n, chunks):
    x = np.arange(2.0 * n).reshape(n, 2)
    ours = E.chunk(Tensor(x), chunks)
    theirs = torch.chunk(torch.from_numpy(x), chunks)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]


INDICES = [
    (1,), (slice(None), -1), (Ellipsis, 0), (None, slice(1, 3)), (slice(0, None, 2),),
    (np.array([2, 0, 2]),),
    (np.array([0, 1]), slice(None), np.array([3, 3])), (slice(1, None), np.array([[0], [2]])),
    (np.array([True, False, True]),), (np.array([0, 2]), Ellipsis, None),
]


@pytest.mark.parametrize("index", INDICES, ids=[str(i) for i in range(len(INDICES))])
def test_getitem_values_and_grads_match_torch(index):
    x = np.random.default_rng(5).standard_normal((3, 4, 5))
    xo, xt = _pair(x)
    idx_t = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index)
    ro, rt = xo[index], xt[idx_t]
    np.testing.assert_array_equal(ro.data, rt.detach().numpy())
    _backward_both(ro, rt)
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 0, 1, 3), (0, 1, 1, 0, 1, 1)])
def test_pad_modes_match_torch(mode, pad):
    x = np.random.default_rng(6).standard_normal((1, 2, 4, 4, 5))
    if len(pad) == 2:
        x = x[0, :, 0]  # (2, 4, 5): 1-d padding takes 2-d or 3-d input in torch
    elif len(pad) == 4:
        x = x[0]  # (2, 4, 4, 5)
    xo, xt = _pair(x)
    ro = E.pad(xo, pad, mode=mode, value=0.25) if mode == "constant" else E.pad(xo, pad, mode)
    rt = TF.pad(xt, pad, mode=mode, value=0.25) if mode == "constant" else \
        TF.pad(xt, pad, mode=mode)
    np.testing.assert_allclose(ro.data, rt.detach().numpy(), rtol=1e-12)
    _backward_both(ro, rt)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape, method, args", [
    ((1, 3, 1, 2), "squeeze", ()), ((1, 3, 1, 2), "squeeze", (2,)),
    ((1, 3, 1, 2), "squeeze", (1,)), ((1, 3, 1, 2), "squeeze", ((0, 2),)),
    ((3, 2), "unsqueeze", (2,)), ((3, 2), "unsqueeze", (-3,)),
    ((2, 3, 4), "flatten", ()), ((2, 3, 4), "flatten", (1,)), ((), "flatten", ()),
    ((2, 3, 4), "permute", (1, -1, 0)), ((3, 1), "expand", (2, -1, 5)), ((4, 3), "t", ()),
])
def test_shape_ops_match_torch(shape, method, args):
    x = np.random.default_rng(7).standard_normal(shape)
    xo, xt = _pair(x)
    ro, rt = getattr(xo, method)(*args), getattr(xt, method)(*args)
    assert ro.shape == tuple(rt.shape)
    np.testing.assert_array_equal(ro.data, rt.detach().numpy())
    _backward_both(ro, rt)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-14)  # expand sums


def test_clamp_at_the_bounds_passes_gradient_as_torch():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    xo, xt = _pair(x)
    xo.clamp(-0.5, 0.5).sum().backward()
    xt.clamp(-0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())
    xo, xt = _pair(x)
    xo.abs().sum().backward()
    xt.abs().sum().backward()
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())  # 0 at 0


def test_casts_match_torch():
    x = np.array([[1.7, -2.2], [0.0, 3.5]])
    xo, xt = _pair(x)
    for conv in ("float", "double", "long", "int", "bool"):
        ours, theirs = getattr(xo, conv)(), getattr(xt, conv)()
        assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", "")), conv
        assert ours.requires_grad == theirs.requires_grad, conv
        np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    (xo.float() * 2).sum().backward()
    (xt.float() * 2).sum().backward()
    assert xo.grad.dtype == np.float64
    np.testing.assert_array_equal(xo.grad, xt.grad.numpy())
