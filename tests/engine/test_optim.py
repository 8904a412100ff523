"""Optimizer mechanics (formulas are checked against torch in test_parity.py)."""

import numpy as np
import pytest

from playground.engine import Tensor, nn, optim


def _param(*values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def test_sgd_step_formula_and_in_place():
    p = _param(1.0, 2.0)
    data = p.data
    p.grad = np.array([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1])
    assert p.data is data


def test_sgd_momentum_first_step_uses_raw_gradient():
    p = _param(0.0)
    opt = optim.SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad = np.array([1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [-1.0])
    opt.step()  # buf = 0.9 * 1 + 0.5 * 1
    np.testing.assert_allclose(p.data, [-2.4])


def test_adam_first_step_moves_by_lr():
    p = _param(1.0, -1.0)
    p.grad = np.array([3.0, -0.2])
    optim.Adam([p], lr=0.01).step()  # bias correction makes the first step lr * sign(g)
    np.testing.assert_allclose(p.data, [0.99, -0.99], rtol=1e-6)


def test_live_learning_rate_change():
    p = _param(0.0)
    opt = optim.SGD([p], lr=1.0)
    p.grad = np.array([1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [-1.5])


def test_param_groups_defaults_and_skipping_missing_grads():
    a, b = _param(1.0), _param(1.0)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert opt.param_groups[1]["momentum"] == 0.0
    a.grad = np.array([1.0])
    opt.step()  # b has no grad: untouched
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.5, 1.0])


def test_zero_grad():
    p = _param(1.0)
    opt = optim.Adam([p])
    p.grad = np.array([2.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad[0] == 0
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss():
    p = _param(2.0)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(p.data, [2.0 - 0.1 * 4.0])


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "beta parameter at index 0"),
    (lambda p: optim.Adam(p, eps=-1), "Invalid epsilon"),
    (lambda p: optim.Adam([]), "empty parameter list"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make([_param(1.0)])


def test_invalid_parameters():
    p = _param(1.0)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.zeros(2)])


def test_training_reduces_loss():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 2)).astype(np.float32))
    t = (x.data[:, 0] * x.data[:, 1] > 0).astype(np.int64)  # XOR-like quadrants
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
