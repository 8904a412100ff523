"""Autograd mechanics: accumulation, no_grad, detach, retain_grad, hooks, backward_steps,
freeing the graph."""

import gc
import threading
import weakref

import numpy as np
import pytest

from playground.engine import (BackwardStep, Tensor, backward_steps, cat, enable_grad,
                               functional as F, is_grad_enabled, nn, no_grad, optim,
                               set_grad_enabled, where)


def _leaf(*values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


# -- accumulation -------------------------------------------------------------------------


def test_tensor_used_twice_sums_both_paths():
    x = _leaf(1.0, 2.0, -3.0)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_intermediate_used_twice_sums_both_paths():
    x = _leaf(0.5, -1.0)
    h = x.exp()
    (h * 3 + h.tanh()).sum().backward()
    np.testing.assert_allclose(x.grad, (3 + (1 - np.tanh(h.data) ** 2)) * h.data)


def test_grads_accumulate_across_backward_calls():
    x = _leaf(1.0, 2.0)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


def test_grads_do_not_alias_upstream_or_each_other():
    a, b = _leaf(1.0, 2.0), _leaf(3.0, 4.0)
    g = np.array([1.0, 1.0])
    (a + b).backward(g)  # Add hands the same g to both inputs
    assert a.grad is not g and b.grad is not g and a.grad is not b.grad
    a.grad += 10
    np.testing.assert_allclose(b.grad, [1.0, 1.0])
    np.testing.assert_allclose(g, [1.0, 1.0])


def test_grad_has_the_leaf_dtype_and_shape():
    w = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    x = Tensor(np.ones((4, 3)))  # float64 input
    (x @ w.T).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.shape == (2, 3)


def test_scalar_leaf_grad_is_an_ndarray():
    s = Tensor(2.0, requires_grad=True)
    x = Tensor(np.ones(3), requires_grad=True)
    (x * s).sum().backward()
    assert isinstance(s.grad, np.ndarray) and s.grad.shape == ()
    assert s.grad == 3.0


def test_only_inputs_that_require_grad_get_gradients():
    x = _leaf(1.0, 2.0)
    c = Tensor(np.array([5.0, 6.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad, [5.0, 6.0])


def test_backward_on_a_leaf_sets_its_grad():
    x = _leaf(1.0, 2.0)
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


# -- errors -------------------------------------------------------------------------------


def test_backward_errors_are_clear():
    x = _leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_second_backward_raises_unless_graph_retained():
    x = _leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (x * x).sum()
    x.grad = None
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


# -- grad mode ----------------------------------------------------------------------------


def test_no_grad_context_records_nothing():
    x = _leaf(1.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_no_grad_decorator_and_restore_on_exception():
    @no_grad()
    def f(x):
        return x * 2, is_grad_enabled()

    y, enabled = f(_leaf(1.0))
    assert not enabled and not y.requires_grad and is_grad_enabled()
    with pytest.raises(ValueError):
        with no_grad():
            raise ValueError
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad_and_set_grad_enabled():
    x = _leaf(1.0)
    with no_grad():
        with enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with set_grad_enabled(False):
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# -- detach, retain_grad, hooks -----------------------------------------------------------


def test_detach_shares_data_and_stops_gradient():
    x = _leaf(1.0, 2.0)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad, d.data)  # d treated as a constant
    y = x.detach()
    assert np.shares_memory(y.data, x.data)


def test_non_leaf_grad_only_with_retain_grad():
    x = _leaf(1.0, -2.0)
    h = x * 3
    k = x * 4
    k.retain_grad()
    (h.relu() + k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, [1.0, 1.0])
    np.testing.assert_allclose(x.grad, [3.0 + 4.0, 4.0])


def test_hook_sees_full_gradient_once_and_can_replace_it():
    x = _leaf(1.0, 2.0)
    h = x * 2
    calls = []
    h.register_hook(lambda g: calls.append(g.copy()))
    (h * h + h).sum().backward()  # h used three times
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 2 * h.data + 1)

    x.grad = None
    h = x * 2
    h.register_hook(lambda g: g * 0 + 1)  # replace dL/dh by ones
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [1.0, 1.0])
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_leaf_hook_runs_before_accumulation_and_handle_removes_it():
    x = _leaf(1.0, 2.0)
    handle = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 20 * x.data)
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_hooks_record_every_node_output_gradient():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    outs, grads = [], {}
    h = x
    for i, layer in enumerate(model):
        h = layer(h)
        h.register_hook(lambda g, i=i: grads.__setitem__(i, g.copy()))
        outs.append(h)
    F.cross_entropy(h, np.array([0, 1, 0, 1, 1])).backward()
    assert sorted(grads) == [0, 1, 2]
    for i, out in enumerate(outs):
        assert grads[i].shape == out.shape
    # chain rule through tanh: dL/d(pre-activation) = dL/d(tanh out) * (1 - tanh^2)
    np.testing.assert_allclose(grads[0], grads[1] * (1 - outs[1].data ** 2), rtol=1e-5)


def test_hook_and_retain_grad_need_requires_grad():
    c = Tensor([1.0])
    with pytest.raises(RuntimeError):
        c.register_hook(lambda g: g)
    with pytest.raises(RuntimeError):
        c.retain_grad()


# -- backward_steps -----------------------------------------------------------------------


def _mlp_loss(seed=0):
    rng = np.random.default_rng(seed)
    w1 = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b1 = Tensor(rng.standard_normal(4), requires_grad=True)
    w2 = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    x = Tensor(rng.standard_normal((5, 3)))
    h = F.linear(x, w1, b1).relu()
    loss = F.cross_entropy(F.linear(h, w2), np.array([0, 1, 1, 0, 1]))
    return loss, (w1, b1, w2)


def test_backward_steps_yields_one_record_per_op_in_reverse_order():
    loss, _ = _mlp_loss()
    steps = list(backward_steps(loss))
    assert [s.op for s in steps] == ["CrossEntropy", "Linear", "ReLU", "Linear"]
    assert all(isinstance(s, BackwardStep) for s in steps)
    for s in steps:
        assert s.upstream.shape == s.output.shape
        assert len(s.downstream) == len(s.inputs)
        assert s.fn is s.output.grad_fn
        for x, g in zip(s.inputs, s.downstream):
            if isinstance(x, Tensor) and x.requires_grad:
                assert g.shape == x.shape
            else:
                assert g is None
    assert steps[0].upstream == 1.0
    # the first Linear's input x needs no gradient
    assert steps[-1].downstream[0] is None
    # saved arrays are readable on the ctx for the stepping UI
    assert set(steps[0].fn.saved) == {"probs", "target", "reduction"}
    np.testing.assert_allclose(steps[0].fn.probs.sum(axis=1), 1.0)


def test_backward_steps_leaves_exactly_backwards_grads():
    loss_a, params_a = _mlp_loss(1)
    loss_b, params_b = _mlp_loss(1)
    for _ in backward_steps(loss_a):
        pass
    loss_b.backward()
    for a, b in zip(params_a, params_b):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_backward_steps_fills_leaf_grads_as_it_goes():
    loss, (w1, b1, w2) = _mlp_loss()
    steps = loss.backward_steps()
    next(steps)  # CrossEntropy
    assert w2.grad is None
    step = next(steps)  # the second Linear
    assert w2.grad is not None and w1.grad is None
    np.testing.assert_array_equal(w2.grad, step.downstream[1])
    list(steps)
    assert w1.grad is not None and b1.grad is not None


def test_backward_steps_upstream_equals_hooked_gradient():
    loss, _ = _mlp_loss()
    seen = {}
    loss.grad_fn.inputs[0].register_hook(lambda g: seen.setdefault("g", g))
    steps = list(backward_steps(loss))
    np.testing.assert_array_equal(steps[1].upstream, seen["g"])


def test_backward_steps_validates_at_call_time():
    with pytest.raises(RuntimeError, match="does not require grad"):
        backward_steps(Tensor([1.0]).sum())


# -- memory -------------------------------------------------------------------------------


def test_graph_is_freed_after_backward():
    x = _leaf(1.0, 2.0)
    h = x.exp()
    ref = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    assert ref() is not None  # kept alive by the graph
    loss.backward()
    assert ref() is None  # loss is still alive, but its graph is unlinked
    assert loss.grad_fn is not None and loss.grad_fn.inputs is None


def test_retain_graph_keeps_intermediates():
    x = _leaf(1.0, 2.0)
    h = x.exp()
    ref = weakref.ref(h)
    loss = (h * 2).sum()
    del h
    loss.backward(retain_graph=True)
    assert ref() is not None


def test_no_tensors_leak_across_training_steps():
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 4)).astype(np.float32))
    t = rng.integers(0, 3, 8)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss

    def count():
        gc.collect()
        return sum(type(o) in (Tensor, nn.Parameter) for o in gc.get_objects())

    keep = step()  # like a session holding the last loss
    base = count()
    for _ in range(50):
        keep = step()
    assert count() <= base
    assert keep.grad_fn.inputs is None


def test_deep_graph_needs_no_recursion():
    x = _leaf(0.5)
    y = x
    for _ in range(20000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0])


# -- tensor ops on the tape ---------------------------------------------------------------


def test_pieces_of_one_tensor_each_carry_their_gradient():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    a, b, c = x.split(1, dim=1)
    top, bottom = x[0], x[1]
    (a * 1 + b * 2 + c * 3).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [[1, 2, 3], [1, 2, 3]])
    x.grad = None
    (top * bottom).sum().backward()
    np.testing.assert_array_equal(x.grad, [x.data[1], x.data[0]])


def test_backward_steps_name_the_tensor_ops():
    x = _leaf(1.0, -2.0, 3.0)
    y = x.unsqueeze(0).expand(2, 3)
    z = cat([y, y[:, ::2]], dim=1).max(dim=1).values.sum()
    assert [s.op for s in z.backward_steps()] == ["Sum", "Max", "Cat", "GetItem", "Expand",
                                                  "Unsqueeze"]


def test_max_indices_and_comparisons_stay_off_the_tape():
    x = _leaf(1.0, 5.0, 2.0)
    values, indices = x.reshape(1, 3).max(dim=1)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    mask = x > 1.5
    y = where(mask, x * 2, x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 2, 2])


def test_no_grad_records_no_tensor_op():
    x = _leaf(1.0, 2.0)
    with no_grad():
        for y in (x[0], cat([x, x]), x.max(), x.clamp(0, 1), x.unsqueeze(0), x.abs()):
            assert not y.requires_grad and y.grad_fn is None
