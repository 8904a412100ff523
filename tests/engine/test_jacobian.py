"""Local Jacobians from ``backward_steps(..., jacobians=True)``: each step's downstream is
J^T . upstream, the Jacobians chain to exactly backward()'s gradients, they match central
differences, and they are only computed when asked for and when small."""

import numpy as np
import pytest

from playground.engine import (JACOBIAN_MAX_SIZE, Tensor, backward_steps, cat,
                               functional as F, no_grad, pad)


def _leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def _mlp(seed):
    """A 2-layer MLP with a cross-entropy loss, float64; returns (loss, params, x)."""
    rng = np.random.default_rng(seed)
    x = _leaf(rng, 4, 3)
    w1, b1, w2, b2 = _leaf(rng, 5, 3), _leaf(rng, 5), _leaf(rng, 2, 5), _leaf(rng, 2)
    h = F.linear(x, w1, b1).tanh()
    h = (h * 2 + h.relu()).clamp(-1.5, 1.5)  # a tensor used twice, elementwise ops
    loss = F.cross_entropy(F.linear(h, w2, b2), np.array([0, 1, 1, 0]))
    return loss, (x, w1, b1, w2, b2)


def _small_convnet(seed, fused=True):
    """conv2d(1->3, 3x3, padding 1) -> relu -> max over width -> flatten -> linear ->
    cross-entropy, float64. ``fused=False`` builds the convolution from primitives (pad,
    slicing, cat, permute, matmul) instead of ``F.conv2d``."""
    rng = np.random.default_rng(seed)
    x = _leaf(rng, 2, 1, 5, 5)
    w = _leaf(rng, 3, 1, 3, 3)
    b = _leaf(rng, 3)
    fc = _leaf(rng, 2, 15)
    if fused:
        if not hasattr(F, "conv2d"):
            pytest.skip("F.conv2d is not in the engine yet")
        h = F.conv2d(x, w, b, padding=1)
    else:
        xp = pad(x, (1, 1, 1, 1))
        cols = cat([xp[:, :, i:i + 5, j:j + 5] for i in range(3) for j in range(3)], dim=1)
        h = (cols.permute(0, 2, 3, 1) @ w.reshape(3, 9).T).permute(0, 3, 1, 2) \
            + b.reshape(1, 3, 1, 1)
    h = h.relu().max(dim=3).values.flatten(1)  # (2, 3*5)
    loss = F.cross_entropy(F.linear(h, fc), np.array([1, 0]))
    return loss, (x, w, b, fc)


MODELS = {"mlp": _mlp, "convnet": _small_convnet,
          "convnet_primitives": lambda seed: _small_convnet(seed, fused=False)}


@pytest.mark.parametrize("model", MODELS)
def test_every_downstream_is_jacobian_transpose_times_upstream(model):
    loss, _ = MODELS[model](0)
    steps = list(backward_steps(loss, jacobians=True))
    assert len(steps) > 5
    checked = 0
    for s in steps:
        assert isinstance(s.jacobian, tuple) and len(s.jacobian) == len(s.inputs)
        for x, down, jac in zip(s.inputs, s.downstream, s.jacobian):
            if down is None:
                assert jac is None
                continue
            assert jac.shape == (s.output.data.size, x.data.size), s.op
            np.testing.assert_allclose(jac.T @ s.upstream.ravel(), down.ravel(), rtol=1e-12,
                                       atol=1e-14, err_msg=s.op)
            checked += 1
    assert checked >= len(steps)


@pytest.mark.parametrize("model", MODELS)
def test_jacobians_chain_to_backwards_gradients(model):
    """Accumulating J^T . upstream over the steps gives every leaf exactly the gradient that
    backward() gives the same model."""
    loss, leaves = MODELS[model](1)
    ref_loss, ref_leaves = MODELS[model](1)
    ref_loss.backward()
    acc = {id(t): np.zeros(t.data.size) for t in leaves}
    for s in loss.backward_steps(jacobians=True):
        for x, jac in zip(s.inputs, s.jacobian):
            if jac is not None and id(x) in acc:
                acc[id(x)] += jac.T @ s.upstream.ravel()
    for t, ref in zip(leaves, ref_leaves):
        np.testing.assert_allclose(acc[id(t)].reshape(t.shape), ref.grad, rtol=1e-10,
                                   atol=1e-13)
        np.testing.assert_array_equal(t.grad, ref.grad)  # the walk also filled .grad


def _numeric_jacobian(f, arrays, k, eps=1e-6):
    """d f(*arrays) / d arrays[k] by central differences, (out.size, in.size)."""
    arrays = [a.copy() for a in arrays]
    a = arrays[k]
    cols = []
    for j in range(a.size):
        orig = a.flat[j]
        a.flat[j] = orig + eps
        with no_grad():
            plus = f(*[Tensor(v) for v in arrays]).data.ravel()
        a.flat[j] = orig - eps
        with no_grad():
            minus = f(*[Tensor(v) for v in arrays]).data.ravel()
        a.flat[j] = orig
        cols.append((plus - minus) / (2 * eps))
    return np.stack(cols, axis=1)


OPS = {
    "tanh": (lambda x: x.tanh(), [(3, 4)]),
    "softmax": (lambda x: F.softmax(x, dim=1), [(2, 4)]),
    "matmul": (lambda a, b: a @ b, [(2, 3), (3, 4)]),
    "getitem_repeats": (lambda x: x[np.array([0, 2, 0])], [(3, 2)]),
    "max_dim": (lambda x: x.max(dim=1).values, [(3, 4)]),
    "pad_reflect": (lambda x: pad(x, (2, 1), mode="reflect"), [(2, 4)]),
    "add_broadcast": (lambda a, b: a + b, [(3, 1), (4,)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, np.array([2, 0])), [(2, 3)]),
}


@pytest.mark.parametrize("name", OPS)
def test_jacobian_matches_central_differences(name):
    f, shapes = OPS[name]
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in shapes]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = f(*leaves)
    (step,) = list(backward_steps(y, np.ones(y.shape), jacobians=True))
    jacs = [j for x, j in zip(step.inputs, step.jacobian) if isinstance(x, Tensor)]
    assert len(jacs) == len(leaves)
    for k, jac in enumerate(jacs):
        np.testing.assert_allclose(jac, _numeric_jacobian(f, arrays, k), rtol=1e-6,
                                   atol=1e-8, err_msg=f"{name}: input {k}")


def test_jacobians_only_when_asked_and_small():
    def build():
        rng = np.random.default_rng(3)
        big_w = _leaf(rng, 70, 60)  # 4200 elements > JACOBIAN_MAX_SIZE
        small_w = _leaf(rng, 2, 70)
        x = Tensor(rng.standard_normal((3, 60)))
        return F.linear(F.linear(x, big_w).tanh(), small_w).sum()

    assert 70 * 60 > JACOBIAN_MAX_SIZE
    assert all(s.jacobian is None for s in build().backward_steps())
    steps = list(build().backward_steps(jacobians=True))
    assert [s.op for s in steps] == ["Sum", "Linear", "Tanh", "Linear"]
    assert steps[0].jacobian[0].shape == (1, 6)
    assert steps[1].jacobian[0].shape == (6, 210) and steps[1].jacobian[1].shape == (6, 140)
    assert steps[1].jacobian[2] is None  # no bias
    assert steps[2].jacobian[0].shape == (210, 210)
    assert steps[3].jacobian == (None, None, None)  # x needs no grad, big_w is too large


def test_jacobian_walk_leaves_the_same_grads_as_backward():
    loss_a, leaves_a = _mlp(4)
    loss_b, leaves_b = _mlp(4)
    list(loss_a.backward_steps(jacobians=True))
    loss_b.backward()
    for a, b in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(a.grad, b.grad)
