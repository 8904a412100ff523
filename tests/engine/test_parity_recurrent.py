"""Parity with PyTorch in float64 for the recurrent family: the functional cells and
sequence ops (torch.lstm_cell, torch.lstm, ...), and nn.RNN / LSTM / GRU and the cells
over every option combination, with weights copied in by name both ways. Values and all
gradients (input, initial states, every parameter) agree to 1e-6 relative (in practice
~1e-12)."""

import itertools

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-6, 1e-9
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _close(a, b, msg=""):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _pair(a):
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


def _backward_both(ours, theirs, rng):
    """Backpropagate sum_i <out_i, v_i> on both sides with the same random v_i."""
    lo = lt = 0
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=RTOL, atol=ATOL)
        v = rng.standard_normal(o.shape)
        lo = lo + (o * Tensor(v)).sum()
        lt = lt + (t * torch.tensor(v)).sum()
    lo.backward()
    lt.backward()


# -- functional: the sequence ops over all option combinations ---------------------------

SEQ_OPTIONS = list(itertools.product([1, 2], [False, True], [False, True], [False, True],
                                     [False, True]))


@pytest.mark.parametrize("mode", list(GATES))
@pytest.mark.parametrize("layers,bidirectional,batch_first,with_hx,bias", SEQ_OPTIONS,
                         ids=lambda v: str(v))
def test_sequence_op_matches_torch(mode, layers, bidirectional, batch_first, with_hx, bias):
    rng = np.random.default_rng(layers * 16 + bidirectional * 8 + batch_first * 4
                                + with_hx * 2 + bias)
    L, N, I, H = 5, 3, 4, 3
    D = 2 if bidirectional else 1
    x = rng.standard_normal((N, L, I) if batch_first else (L, N, I))
    params = []
    for layer in range(layers):
        for _ in range(D):
            i = I if layer == 0 else D * H
            g = GATES[mode] * H
            params += [rng.standard_normal((g, i)) * 0.5, rng.standard_normal((g, H)) * 0.5]
            if bias:
                params += [rng.standard_normal(g) * 0.5, rng.standard_normal(g) * 0.5]
    n_states = 2 if mode == "lstm" else 1
    states = [rng.standard_normal((layers * D, N, H)) for _ in range(n_states)]
    arrays = [x] + (states if with_hx else []) + params
    ours, theirs = zip(*[_pair(a) for a in arrays])
    k = 1 + (n_states if with_hx else 0)

    def hx(ts, lib):
        if not with_hx:
            if lib is F:
                return None
            zeros = [torch.zeros(layers * D, N, H, dtype=torch.float64)] * n_states
            return zeros if mode == "lstm" else zeros[0]
        return list(ts[1:k]) if mode == "lstm" else ts[1]

    out_o = getattr(F, mode)(ours[0], hx(ours, F), list(ours[k:]), bias, layers, 0.0, True,
                             bidirectional, batch_first)
    out_t = getattr(torch, mode)(theirs[0], hx(theirs, torch), list(theirs[k:]), bias,
                                 layers, 0.0, True, bidirectional, batch_first)
    _backward_both(out_o, out_t, rng)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        _close(a.grad, b.grad.numpy(), f"{mode}: input {i}")


@pytest.mark.parametrize("name", ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"])
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_op_matches_torch(name, unbatched, bias):
    rng = np.random.default_rng(3)
    N, I, H = 3, 4, 5
    g = GATES[name.replace("_cell", "")] * H
    x = rng.standard_normal((I,) if unbatched else (N, I))
    states = [rng.standard_normal((H,) if unbatched else (N, H))
              for _ in range(2 if name == "lstm_cell" else 1)]
    weights = [rng.standard_normal((g, I)), rng.standard_normal((g, H))]
    if bias:
        weights += [rng.standard_normal(g), rng.standard_normal(g)]
    ours, theirs = zip(*[_pair(a) for a in [x] + states + weights])
    k = 1 + len(states)

    def call(fn, ts, is_torch):
        hx = ts[1:k] if name == "lstm_cell" else ts[1]
        if is_torch and unbatched:  # torch's cell ops want a batch dim
            hx = [h[None] for h in hx] if name == "lstm_cell" else hx[None]
            out = fn(ts[0][None], hx, *ts[k:])
            return [o[0] for o in out] if name == "lstm_cell" else [out[0]]
        out = fn(ts[0], hx, *ts[k:])
        return list(out) if name == "lstm_cell" else [out]

    _backward_both(call(getattr(F, name), ours, False), call(getattr(torch, name), theirs,
                                                              True), rng)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        _close(a.grad, b.grad.numpy(), f"{name}: input {i}")


# -- nn modules ---------------------------------------------------------------------------

MODULES = {"RNN": {}, "RNN_relu": {"nonlinearity": "relu"}, "LSTM": {}, "GRU": {}}
MODULE_OPTIONS = list(itertools.product([1, 2], [False, True], [False, True], [False, True]))


def _modules(kind, **kw):
    cls = kind.split("_")[0]
    kw = {**MODULES[kind], **kw}
    theirs = getattr(torch.nn, cls)(**kw).double()
    ours = getattr(nn, cls)(dtype=np.float64, **kw)
    return ours, theirs


@pytest.mark.parametrize("kind", list(MODULES))
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_hx", MODULE_OPTIONS,
                         ids=lambda v: str(v))
def test_module_matches_torch_with_weights_copied_in(kind, num_layers, bidirectional,
                                                     batch_first, with_hx):
    rng = np.random.default_rng(num_layers + 2 * bidirectional + 4 * batch_first)
    ours, theirs = _modules(kind, input_size=3, hidden_size=4, num_layers=num_layers,
                            bidirectional=bidirectional, batch_first=batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    D = 2 if bidirectional else 1
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    xo, xt = _pair(x)
    lstm = kind == "LSTM"
    hx_o = hx_t = None
    states_o, states_t = [], []
    if with_hx:
        for _ in range(2 if lstm else 1):
            so, st = _pair(rng.standard_normal((num_layers * D, 2, 4)))
            states_o.append(so)
            states_t.append(st)
        hx_o = tuple(states_o) if lstm else states_o[0]
        hx_t = tuple(states_t) if lstm else states_t[0]
    yo, ho = ours(xo, hx_o)
    yt, ht = theirs(xt, hx_t)
    outs_o = [yo] + (list(ho) if lstm else [ho])
    outs_t = [yt] + (list(ht) if lstm else [ht])
    _backward_both(outs_o, outs_t, rng)
    _close(xo.grad, xt.grad.numpy(), "input")
    for a, b in zip(states_o, states_t):
        _close(a.grad, b.grad.numpy(), "initial state")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad.numpy(), name)


@pytest.mark.parametrize("kind", list(MODULES))
def test_unbatched_input_and_state_dict_into_torch(kind):
    rng = np.random.default_rng(7)
    ours, theirs = _modules(kind, input_size=3, hidden_size=2, num_layers=2,
                            bidirectional=True, bias=False)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((4, 3))  # (L, I)
    h0 = rng.standard_normal((4, 2))  # (num_layers * D, H)
    hx_o = (Tensor(h0), Tensor(h0 * 0.5)) if kind == "LSTM" else Tensor(h0)
    hx_t = ((torch.tensor(h0), torch.tensor(h0 * 0.5)) if kind == "LSTM"
            else torch.tensor(h0))
    yo, ho = ours(Tensor(x), hx_o)
    yt, ht = theirs(torch.tensor(x), hx_t)
    assert yo.shape == (4, 4)
    _close(yo.data, yt.detach().numpy())
    for a, b in zip(ho if kind == "LSTM" else [ho], ht if kind == "LSTM" else [ht]):
        _close(a.data, b.detach().numpy())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_between_layers_is_off_in_eval(kind):
    ours, theirs = _modules(kind, input_size=3, hidden_size=4, num_layers=3, dropout=0.5)
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    _close(ours(Tensor(x))[0].data, theirs(torch.tensor(x))[0].detach().numpy())


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cell_modules_match_torch(cls, unbatched):
    rng = np.random.default_rng(1)
    theirs = getattr(torch.nn, cls)(3, 4).double()
    ours = getattr(nn, cls)(3, 4, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    xs = rng.standard_normal((3, 3) if unbatched else (3, 2, 3))  # three steps
    hx_o = hx_t = None
    outs_o, outs_t = [], []
    for x in xs:  # unroll a few steps, the state carried over
        hx_o = ours(Tensor(x), hx_o)
        hx_t = theirs(torch.tensor(x), hx_t)
        outs_o += list(hx_o) if cls == "LSTMCell" else [hx_o]
        outs_t += list(hx_t) if cls == "LSTMCell" else [hx_t]
    _backward_both(outs_o, outs_t, rng)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad.numpy(), name)
