"""The recurrent family beyond parity: dtypes, no_grad, errors, dropout between layers,
reuse of pooled buffers while an older graph is alive, stepping and local Jacobians."""

import numpy as np
import pytest

from playground.engine import Tensor, backward_steps, functional as F, manual_seed, nn, \
    no_grad


def _lstm_loss(model, x):
    out, (h, c) = model(x)
    return (out * out).sum() + (h * c).sum()


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_float32_stays_float32_and_shapes(cls):
    m = getattr(nn, cls)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 7, 3)).astype(np.float32))
    out, state = m(x)
    h = state[0] if cls == "LSTM" else state
    assert out.shape == (4, 7, 10) and out.dtype == np.float32
    assert h.shape == (4, 4, 5) and h.dtype == np.float32
    (out.sum() + h.sum()).backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


def test_default_init_is_uniform_within_one_over_sqrt_hidden():
    m = nn.LSTM(10, 25, num_layers=2)
    for name, p in m.named_parameters():
        assert np.abs(p.data).max() <= 1 / 5 + 1e-7, name
        assert p.data.std() > 0.1, name  # U(-0.2, 0.2) has std 0.115


def test_output_last_step_equals_h_n_and_reverse_first_step():
    m = nn.GRU(2, 3, bidirectional=True)
    x = Tensor(np.random.default_rng(1).standard_normal((5, 2, 2)))
    out, h_n = m(x)
    np.testing.assert_array_equal(out.data[-1, :, :3], h_n.data[0])
    np.testing.assert_array_equal(out.data[0, :, 3:], h_n.data[1])


def test_no_grad_forward_matches_and_records_nothing():
    m = nn.LSTM(3, 4, num_layers=2, dtype=np.float64)
    x = Tensor(np.random.default_rng(2).standard_normal((6, 2, 3)))
    with no_grad():
        out, (h, c) = m(x)
    assert out.grad_fn is None and not out.requires_grad
    out2, (h2, c2) = m(x)
    np.testing.assert_array_equal(out.data, out2.data)
    np.testing.assert_array_equal(c.data, c2.data)


def test_a_graph_kept_alive_keeps_its_buffers():
    """Buffers are pooled; a second forward while the first graph lives must not reuse
    (and overwrite) the first one's saved activations."""
    rng = np.random.default_rng(3)
    m = nn.LSTM(3, 4, dtype=np.float64)
    x1, x2 = (Tensor(rng.standard_normal((5, 2, 3))) for _ in range(2))
    loss1 = _lstm_loss(m, x1)
    loss2 = _lstm_loss(m, x2)  # same shapes: would reuse loss1's buffers if they were free
    loss1.backward()
    g_both = {n: p.grad.copy() for n, p in m.named_parameters()}
    loss2.backward()
    m.zero_grad()
    _lstm_loss(m, x1).backward()
    for n, p in m.named_parameters():
        np.testing.assert_allclose(g_both[n], p.grad, rtol=1e-12, err_msg=n)


def test_dropout_between_layers_in_training_is_seeded_and_differentiable():
    m = nn.LSTM(2, 3, num_layers=2, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((4, 2, 2))

    def f(xa):
        manual_seed(7)
        return m(Tensor(xa))[0]

    a, b = f(x), f(x)
    np.testing.assert_array_equal(a.data, b.data)
    m.eval()
    assert not np.allclose(m(Tensor(x))[0].data, a.data)
    m.train()
    xt = Tensor(x.copy(), requires_grad=True)
    manual_seed(7)
    m(xt)[0].sum().backward()
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):  # central differences with the same dropout mask
        xp, xm = x.copy(), x.copy()
        xp[idx] += 1e-6
        xm[idx] -= 1e-6
        num[idx] = (f(xp).data.sum() - f(xm).data.sum()) / 2e-6
    np.testing.assert_allclose(xt.grad, num, rtol=1e-6, atol=1e-8)


def test_backward_steps_show_one_fused_op_and_its_jacobians():
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    params = [Tensor(rng.standard_normal(s), requires_grad=True)
              for s in [(8, 2), (8, 2), (8,), (8,)]]
    out, h, c = F.lstm(x, None, params)
    loss = (out * out).sum() + c.sum()
    steps = list(backward_steps(loss, jacobians=True))
    ops = [s.op for s in steps]
    assert ops.count("LSTM") == 1
    step = steps[ops.index("LSTM")]
    assert set(step.fn.saved) >= {"layers"}
    for gx, jac, inp in zip(step.downstream, step.jacobian, step.inputs):
        if jac is not None:  # downstream = J^T upstream, from repeated backward calls
            np.testing.assert_allclose(gx.ravel(), jac.T @ step.upstream.ravel(),
                                       rtol=1e-10, atol=1e-12)
    assert x.grad is not None and all(p.grad is not None for p in params)


def test_cells_unroll_to_the_sequence_op():
    rng = np.random.default_rng(6)
    m = nn.LSTM(3, 4, dtype=np.float64)
    cell = nn.LSTMCell(3, 4, dtype=np.float64)
    cell.load_state_dict({k[:-3]: v for k, v in m.state_dict().items()})
    x = Tensor(rng.standard_normal((5, 2, 3)))
    out, (h_n, c_n) = m(x)
    hx = None
    for t in range(5):
        hx = cell(x[t], hx)
        np.testing.assert_allclose(hx[0].data, out.data[t], rtol=1e-12)
    np.testing.assert_allclose(hx[1].data, c_n.data[0], rtol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: nn.LSTM(3, 4)(Tensor(np.zeros((2, 3, 4, 3)))), "2D or 3D"),
    (lambda: nn.LSTM(3, 4)(Tensor(np.zeros((2, 3, 5)))), "input_size"),
    (lambda: nn.GRU(3, 4)(Tensor(np.zeros((2, 3, 3))), Tensor(np.zeros((1, 2, 4)))),
     "hidden size"),
    (lambda: nn.LSTM(3, 4)(Tensor(np.zeros((2, 3, 3))), Tensor(np.zeros((1, 3, 4)))),
     "tuple"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity"),
    (lambda: nn.LSTM(3, 4, dropout=1.5), "dropout"),
    (lambda: nn.LSTM(3, 4, proj_size=2), "proj_size"),
    (lambda: nn.GRU(0, 4), "input_size"),
    (lambda: F.lstm_cell(Tensor(np.zeros((2, 3))), (Tensor(np.zeros((2, 4))),
                                                     Tensor(np.zeros((2, 4)))),
                         Tensor(np.zeros((12, 3))), Tensor(np.zeros((16, 4)))), "w_ih"),
    (lambda: F.gru(Tensor(np.zeros((2, 1, 3))), None, [Tensor(np.zeros((6, 3)))]),
     "parameter arrays"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        call()


@pytest.mark.parametrize("op", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("batch", [1, 3])
def test_backward_leaves_the_upstream_gradient_untouched(op, batch):
    rng = np.random.default_rng(8)
    g = {"lstm": 4, "gru": 3, "rnn_tanh": 1}[op] * 2
    x = Tensor(rng.standard_normal((3, batch, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((2, batch, 2)), requires_grad=True)
    hx = (h0, Tensor(rng.standard_normal((2, batch, 2)))) if op == "lstm" else h0
    params = [Tensor(rng.standard_normal(s), requires_grad=True)
              for s in [(g, 2), (g, 2), (g,), (g,)] * 2]
    out = getattr(F, op)(x, hx, params, True, 1, 0.0, True, True)[0]
    fn = out.grad_fn.inputs[0].grad_fn  # the fused op under the output's slice
    up = rng.standard_normal(fn.inputs and out.grad_fn.saved["packed_shape"])
    before = up.copy()
    first = fn.backward(fn, up)
    np.testing.assert_array_equal(up, before)
    again = fn.backward(fn, up)  # and it is repeatable (stepping calls it per one-hot)
    for a, b in zip(first, again):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_buffer_pool_reuses_only_free_arrays_and_skips_large_ones():
    from playground.engine.recurrent import _POOL_MAX_BYTES, _empty
    a = _empty(1000, np.float32)
    assert a.shape == (1000,)
    b = _empty((1000,), np.float32)
    assert b is not a  # a is still referenced here
    del a, b
    c = _empty((1000,), np.float32)
    assert _empty((1000,), np.float32) is not c
    big = (_POOL_MAX_BYTES // 4 + 1,)
    x = _empty(big, np.float32)
    del x
    assert _empty(big, np.float32).shape == big  # fresh each time, never pooled
