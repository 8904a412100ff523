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
