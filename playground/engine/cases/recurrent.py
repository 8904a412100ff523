"""Op cases for :mod:`playground.engine.recurrent`, and the reference expansions of the
LSTM and GRU steps into primitive ops (linear, chunk, sigmoid, tanh, mul, add) and of a
whole LSTM layer into a loop of LSTM steps.

PyTorch keeps these ops on the top-level namespace (``torch.lstm_cell``, ``torch.lstm``),
not in ``torch.nn.functional``; :func:`_op` finds them there, so each case runs on this
engine and on torch alike. A case returns one Tensor: several outputs are flattened and
concatenated.
"""

from __future__ import annotations

from typing import Any, Callable

from ..testing import ExpansionCase, OpCase, _args, _n, _top

OP_CASES: list = []
EXPANSIONS: list = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _op(F: Any, name: str) -> Callable[..., Any]:
    """``F.<name>`` (this engine's functional) or ``torch.<name>`` (for torch's F)."""
    return getattr(F, name, None) or getattr(_top(F), name)


def _joined(F: Any, *outs: Any) -> Any:
    """Several outputs as one flat Tensor, so one gradient check covers them all."""
    return _top(F).cat([o.flatten() for o in outs])


_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _params(mode: str, inp: int, hid: int, layers: int = 1, bidirectional: bool = False,
            bias: bool = True) -> list:
    """Makers for the flat parameter list, PyTorch's order: per layer and direction
    w_ih, w_hh[, b_ih, b_hh]."""
    g, d = _GATES[mode] * hid, 2 if bidirectional else 1
    out = []
    for layer in range(layers):
        for _ in range(d):
            i = inp if layer == 0 else d * hid
            out += [_n(g, i), _n(g, hid)] + ([_n(g), _n(g)] if bias else [])
    return out


# -- one step ------------------------------------------------------------------------------

_case("lstm_cell", lambda F, x, h, c, wi, wh, bi, bh:
      _joined(F, *_op(F, "lstm_cell")(x, (h, c), wi, wh, bi, bh)),
      _n(3, 4), _n(3, 2), _n(3, 2), _n(8, 4), _n(8, 2), _n(8), _n(8))
_case("lstm_cell_no_bias_batch_of_1", lambda F, x, h, c, wi, wh:
      _joined(F, *_op(F, "lstm_cell")(x, (h, c), wi, wh)),
      _n(1, 3), _n(1, 3), _n(1, 3), _n(12, 3), _n(12, 3))
_case("gru_cell", lambda F, x, h, wi, wh, bi, bh: _op(F, "gru_cell")(x, h, wi, wh, bi, bh),
      _n(3, 4), _n(3, 2), _n(6, 4), _n(6, 2), _n(6), _n(6))
_case("gru_cell_batch_of_1_odd", lambda F, x, h, wi, wh, bi, bh:
      _op(F, "gru_cell")(x, h, wi, wh, bi, bh),
      _n(1, 5), _n(1, 3), _n(9, 5), _n(9, 3), _n(9), _n(9))
for _nl in ("tanh", "relu"):
    _case(f"rnn_{_nl}_cell", lambda F, x, h, wi, wh, bi, bh, nl=_nl:
          _op(F, f"rnn_{nl}_cell")(x, h, wi, wh, bi, bh),
          _n(3, 4), _n(3, 3), _n(3, 4), _n(3, 3), _n(3), _n(3))


# -- whole sequences -----------------------------------------------------------------------


def _seq(mode: str, layers: int = 1, bidirectional: bool = False, batch_first: bool = False,
         bias: bool = True) -> Callable[..., Any]:
    per = (4 if bias else 2) * (2 if bidirectional else 1) * layers

    def fn(F, x, *rest):
        states, params = rest[:len(rest) - per], list(rest[len(rest) - per:])
        hx = tuple(states) if mode == "lstm" else states[0]
        outs = _op(F, mode)(x, hx, params, bias, layers, 0.0, True, bidirectional,
                            batch_first)
        return _joined(F, *outs)
    return fn


for _mode in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
    _ns = 2 if _mode == "lstm" else 1
    # odd length 3, batch of 1, one layer
    _case(f"{_mode}_seq_L3_batch_of_1", _seq(_mode), _n(3, 1, 2),
          *[_n(1, 1, 2)] * _ns, *_params(_mode, 2, 2))
    # two layers, bidirectional, batch first
    _case(f"{_mode}_seq_2_layers_bidirectional_batch_first",
          _seq(_mode, 2, True, True), _n(2, 3, 2), *[_n(4, 2, 2)] * _ns,
          *_params(_mode, 2, 2, 2, True))
_case("lstm_seq_no_bias_L5", _seq("lstm", bias=False), _n(5, 2, 3), _n(1, 2, 2),
      _n(1, 2, 2), *_params("lstm", 3, 2, bias=False))
_case("gru_seq_bidirectional_L4", _seq("gru", 1, True), _n(4, 2, 2), _n(2, 2, 3),
      *_params("gru", 2, 3, 1, True))


# -- expansions: the fused steps against their gates from primitives -----------------------


def _lstm_step_reference(x, h, c, w_ih, w_hh, b_ih, b_hh):
    from .. import functional as F
    from ..ops import chunk
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = chunk(gates, 4, dim=1)
    c_new = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    return F.sigmoid(o) * F.tanh(c_new), c_new


def _gru_step_reference(x, h, w_ih, w_hh, b_ih, b_hh):
    from .. import functional as F
    from ..ops import chunk
    i_r, i_z, i_n = chunk(F.linear(x, w_ih, b_ih), 3, dim=1)
    h_r, h_z, h_n = chunk(F.linear(h, w_hh, b_hh), 3, dim=1)
    r = F.sigmoid(i_r + h_r)
    z = F.sigmoid(i_z + h_z)
    n = F.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def _rnn_step_reference(x, h, w_ih, w_hh, b_ih, b_hh):
    from .. import functional as F
    return F.tanh(F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh))


def _lstm_layer_reference(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """A one-layer LSTM as a loop of LSTM steps over time (x (L, N, I))."""
    from ..ops import stack
    h, c = h0[0], c0[0]
    outs = []
    for t in range(x.shape[0]):
        h, c = _lstm_step_reference(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        outs.append(h)
    return stack(outs), stack([h]), stack([c])


def _lstm_layer_fused(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    from .. import functional as F
    return F.lstm(x, (h0, c0), [w_ih, w_hh, b_ih, b_hh])


def _cell(name):
    from .. import functional as F
    return getattr(F, name)


EXPANSIONS.append(ExpansionCase(
    "lstm_step", lambda x, h, c, *w: _cell("lstm_cell")(x, (h, c), *w), _lstm_step_reference,
    _args(_n(3, 4), _n(3, 2), _n(3, 2), _n(8, 4), _n(8, 2), _n(8), _n(8))))
EXPANSIONS.append(ExpansionCase(
    "gru_step", lambda *a: _cell("gru_cell")(*a), _gru_step_reference,
    _args(_n(3, 4), _n(3, 2), _n(6, 4), _n(6, 2), _n(6), _n(6))))
EXPANSIONS.append(ExpansionCase(
    "rnn_tanh_step", lambda *a: _cell("rnn_tanh_cell")(*a), _rnn_step_reference,
    _args(_n(2, 3), _n(2, 4), _n(4, 3), _n(4, 4), _n(4), _n(4))))
EXPANSIONS.append(ExpansionCase(
    "lstm_layer_as_steps", _lstm_layer_fused, _lstm_layer_reference,
    _args(_n(5, 2, 3), _n(1, 2, 4), _n(1, 2, 4), _n(16, 3), _n(16, 4), _n(16), _n(16))))
