"""Functional ops, recurrent: the fused RNN, LSTM and GRU steps and whole-sequence layers.

Re-exported by :mod:`playground.engine.functional`. PyTorch has no public functional RNNs;
these carry the names and signatures of the ops behind ``torch.nn.LSTM`` & co., which live
on the ``torch`` namespace: ``torch.lstm_cell``, ``torch.gru_cell``, ``torch.rnn_tanh_cell``,
``torch.rnn_relu_cell`` (one step) and ``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu`` (a whole multi-layer, optionally bidirectional, sequence).

Shapes: L sequence length, N batch, I input features, H hidden size, D = 2 if bidirectional
else 1. Gate order and parameter layout are PyTorch's: LSTM ``w_ih`` (4H, I) with gates
i, f, g, o; GRU ``w_ih`` (3H, I) with gates r, z, n; RNN ``w_ih`` (H, I).

Cell equations (PyTorch's documentation of nn.LSTM / nn.GRU / nn.RNN):

    LSTM  i = s(W_ii x + b_ii + W_hi h + b_hi)      f = s(W_if x + b_if + W_hf h + b_hf)
          g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = s(W_io x + b_io + W_ho h + b_ho)
          c' = f * c + i * g                        h' = o * tanh(c')
    GRU   r = s(W_ir x + b_ir + W_hr h + b_hr)      z = s(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
          h' = (1 - z) * n + z * h
    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu)

with s the logistic sigmoid (computed as 0.5 tanh(x/2) + 0.5: exact, no overflow).

The whole-sequence ops are one Function each (:class:`LSTM`, :class:`GRU`, :class:`RNN`):
the input projection of every step is one GEMM up front, the recurrence writes straight
into preallocated buffers, and backward runs back through time in one loop whose weight
gradients are again single GEMMs over all steps. Sources: Hochreiter & Schmidhuber (1997),
"Long short-term memory"; Cho et al. (2014), "Learning phrase representations using RNN
encoder-decoder"; backpropagation through time, Werbos (1990).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Sequence

import numpy as np

from . import _random
from .tensor import Function, Tensor

__all__ = ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "lstm", "gru",
           "rnn_tanh", "rnn_relu"]


# ----------------------------------------------------------------------- helpers


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid as 0.5 tanh(x/2) + 0.5 (identical, and never overflows)."""
    y = np.tanh(x * 0.5)
    y *= 0.5
    y += 0.5
    return y


_POOL: dict[tuple, list[np.ndarray]] = {}
_POOL_KEYS = 64  # distinct (shape, dtype) kept; beyond that the pool starts afresh
_POOL_MAX_BYTES = 16 << 20  # larger arrays are not kept (page faults matter less there)


def _empty(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialised array, like ``np.empty``, reused from a pool when a previous one of
    this shape and dtype is no longer referenced anywhere else.

    Large fresh arrays come from the OS as untouched pages, and the page faults of their
    first write cost more than the arithmetic of a small RNN step (PyTorch avoids this with
    its caching allocator). An array is handed out again only when the pool holds the last
    reference to it (views keep their base alive, so a saved view blocks reuse)."""
    if not isinstance(shape, tuple):
        shape = (shape,)
    key = (shape, dtype)
    free = _POOL.get(key)
    if free is None and math.prod(shape) * np.dtype(dtype).itemsize > _POOL_MAX_BYTES:
        return np.empty(shape, dtype)
    if free is None:
        if len(_POOL) >= _POOL_KEYS:
            _POOL.clear()
        free = _POOL[key] = []
    for a in free:
        if sys.getrefcount(a) == 3:  # the list, the loop variable, the call's argument
            return a
    a = np.empty(shape, dtype)
    if len(free) < 4:
        free.append(a)
    return a


def _mat(a: np.ndarray) -> np.ndarray:
    """A 1-D (unbatched) vector as a 1-row matrix; 2-D as is."""
    return a.reshape(1, -1) if a.ndim == 1 else a


class _Part(Function):
    """One output of a multi-output op: ``packed.ravel()[start:stop].reshape(shape)``.

    The fused RNN and attention ops return their outputs packed in one flat array (an op
    has one output); each output is a view cut from it. Gradient: g placed in that segment
    of a zero array of packed's shape."""

    @staticmethod
    def forward(ctx, packed, start, stop, shape):
        ctx.save(packed_shape=packed.shape, start=start, stop=stop)
        return packed.reshape(-1)[start:stop].reshape(shape)

    @staticmethod
    def backward(ctx, g):
        d = _empty(ctx.packed_shape, g.dtype)
        flat = d.reshape(-1)
        flat[:ctx.start] = 0
        flat[ctx.start:ctx.stop] = g.reshape(-1)
        flat[ctx.stop:] = 0
        return d


def _unpack(packed: Tensor, shapes: Sequence[tuple]) -> tuple:
    """Cut a packed op output into Tensors of ``shapes``, in order."""
    out, start = [], 0
    for shape in shapes:
        stop = start + math.prod(shape)
        out.append(_Part.apply(packed, start=start, stop=stop, shape=shape))
        start = stop
    return tuple(out)


def _data(t: Any) -> Any:
    return t.data if isinstance(t, Tensor) else t


def _check_cell(name: str, x, h, w_ih, w_hh, gates: int) -> None:
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: input must be 1-D (I,) or 2-D (N, I), got shape {x.shape}")
    hidden = w_hh.shape[1] if w_hh.ndim == 2 else -1
    if (w_ih.ndim != 2 or w_hh.ndim != 2 or w_ih.shape[0] != gates * hidden
            or w_hh.shape[0] != gates * hidden or w_ih.shape[1] != x.shape[-1]):
        raise ValueError(f"{name}: expected w_ih ({gates}H, I) and w_hh ({gates}H, H) with "
                         f"I={x.shape[-1]}; got w_ih {w_ih.shape} and w_hh {w_hh.shape}")
    if h.shape != x.shape[:-1] + (hidden,):
        raise ValueError(f"{name}: hidden state has shape {h.shape}, expected "
                         f"{x.shape[:-1] + (hidden,)} for input {x.shape} and H={hidden}")


# ----------------------------------------------------------------------- cells


class LSTMCell(Function):
    """One LSTM step, fused. Shapes: x (N, I) or (I,), h and c (N, H) or (H,), w_ih (4H, I),
    w_hh (4H, H), b_ih and b_hh (4H,) or None -> packed (2, N, H): [h', c'].

    Saves the gates i, f, g, o and tanh(c'). Backward (dh', dc' from the two outputs):
        dc = dc' + dh' * o * (1 - tanh(c')^2),  do = dh' * tanh(c'),
        di = dc * g,  df = dc * c,  dg = dc * i,  dc_prev = dc * f,
        dz = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]  (pre-activations),
        dx = dz W_ih,  dh = dz W_hh,  dW_ih = dz^T x,  dW_hh = dz^T h,  db = sum_N dz.
    """

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
        _check_cell("lstm_cell", x, h, w_ih, w_hh, 4)
        if c.shape != h.shape:
            raise ValueError(f"lstm_cell: cell state has shape {c.shape}, hidden state "
                             f"{h.shape}; they must match")
        x2, h2, c2 = _mat(x), _mat(h), _mat(c)
        z = x2 @ w_ih.T
        z += h2 @ w_hh.T
        if b_ih is not None:
            z += b_ih
        if b_hh is not None:
            z += b_hh
        hid = h2.shape[1]
        i, f, o = (_sigmoid(z[:, k * hid:(k + 1) * hid]) for k in (0, 1, 3))
        g = np.tanh(z[:, 2 * hid:3 * hid])
        c_new = f * c2 + i * g
        tanh_c = np.tanh(c_new)
        ctx.save(x=x2, h=h2, c=c2, w_ih=w_ih, w_hh=w_hh, i=i, f=f, g=g, o=o, tanh_c=tanh_c,
                 unbatched=x.ndim == 1)
        out = np.stack([o * tanh_c, c_new])
        return out[:, 0] if x.ndim == 1 else out

    @staticmethod
    def backward(ctx, grad):
        if ctx.unbatched:
            grad = grad[:, None]
        dh, dc_out = grad[0], grad[1]
        i, f, g, o, tc = ctx.i, ctx.f, ctx.g, ctx.o, ctx.tanh_c
        dc = dc_out + dh * o * (1.0 - tc * tc)
        dz = np.concatenate([dc * g * i * (1.0 - i), dc * ctx.c * f * (1.0 - f),
                             dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)], axis=1)
        return _cell_grads(ctx, dz, dz, dc * f)


def _cell_grads(ctx, dz_i: np.ndarray, dz_h: np.ndarray, dc_prev=None,
                dh_extra=None) -> tuple:
    """Input/weight/bias gradients of a cell from its pre-activation gradients: dz_i for
    the input projection x W_ih^T + b_ih, dz_h for the hidden one h W_hh^T + b_hh."""
    need = ctx.needs_input_grad
    k = 3 if dc_prev is not None else 2  # index of w_ih among the inputs
    shape = (lambda a: a[0]) if ctx.unbatched else (lambda a: a)
    dx = shape(dz_i @ ctx.w_ih) if need[0] else None
    dh = None
    if need[1]:
        dh = dz_h @ ctx.w_hh
        if dh_extra is not None:
            dh += dh_extra
        dh = shape(dh)
    out = [dx, dh]
    if k == 3:
        out.append(shape(dc_prev) if need[2] else None)
    out.append(dz_i.T @ ctx.x if need[k] else None)
    out.append(dz_h.T @ ctx.h if need[k + 1] else None)
    out.append(dz_i.sum(axis=0) if len(need) > k + 2 and need[k + 2] else None)
    out.append(dz_h.sum(axis=0) if len(need) > k + 3 and need[k + 3] else None)
    return tuple(out[:len(need)])


class GRUCell(Function):
    """One GRU step, fused. Shapes: x (N, I) or (I,), h (N, H) or (H,), w_ih (3H, I),
    w_hh (3H, H), b_ih and b_hh (3H,) or None -> h' (N, H) or (H,).

    Saves r, z, n and hn = W_hn h + b_hn. Backward, from dh':
        dn = dh' (1 - z) (1 - n^2)  (pre-activation),  dr = dn * hn * r(1-r),
        dz = dh' (h - n) z(1-z),  dhn = dn * r,
        dx = [dr, dz, dn] W_ih,  dh = [dr, dz, dhn] W_hh + dh' z.
    """

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        _check_cell("gru_cell", x, h, w_ih, w_hh, 3)
        x2, h2 = _mat(x), _mat(h)
        gi = x2 @ w_ih.T
        gh = h2 @ w_hh.T
        if b_ih is not None:
            gi += b_ih
        if b_hh is not None:
            gh += b_hh
        hid = h2.shape[1]
        r = _sigmoid(gi[:, :hid] + gh[:, :hid])
        z = _sigmoid(gi[:, hid:2 * hid] + gh[:, hid:2 * hid])
        hn = gh[:, 2 * hid:]
        n = np.tanh(gi[:, 2 * hid:] + r * hn)
        h_new = n + z * (h2 - n)
        ctx.save(x=x2, h=h2, w_ih=w_ih, w_hh=w_hh, r=r, z=z, n=n, hn=hn,
                 unbatched=x.ndim == 1)
        return h_new[0] if x.ndim == 1 else h_new

    @staticmethod
    def backward(ctx, grad):
        g = _mat(grad)
        r, z, n = ctx.r, ctx.z, ctx.n
        dn = g * (1.0 - z) * (1.0 - n * n)
        dr = dn * ctx.hn * r * (1.0 - r)
        dz = g * (ctx.h - n) * z * (1.0 - z)
        dz_i = np.concatenate([dr, dz, dn], axis=1)
        dz_h = np.concatenate([dr, dz, dn * r], axis=1)
        return _cell_grads(ctx, dz_i, dz_h, dh_extra=g * z)


class RNNCell(Function):
    """One Elman RNN step, fused. Shapes: x (N, I) or (I,), h (N, H) or (H,), w_ih (H, I),
    w_hh (H, H), b_ih and b_hh (H,) or None -> h' (N, H) or (H,).
    nonlinearity 'tanh' or 'relu'. Backward: dz = dh' (1 - h'^2) for tanh, dh' [h' > 0] for
    relu; dx = dz W_ih, dh = dz W_hh."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
        _check_cell(f"rnn_{nonlinearity}_cell", x, h, w_ih, w_hh, 1)
        x2, h2 = _mat(x), _mat(h)
        z = x2 @ w_ih.T
        z += h2 @ w_hh.T
        if b_ih is not None:
            z += b_ih
        if b_hh is not None:
            z += b_hh
        h_new = np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
        ctx.save(x=x2, h=h2, w_ih=w_ih, w_hh=w_hh, h_new=h_new, nonlinearity=nonlinearity,
                 unbatched=x.ndim == 1)
        return h_new[0] if x.ndim == 1 else h_new

    @staticmethod
    def backward(ctx, grad):
        g, y = _mat(grad), ctx.h_new
        dz = g * (1.0 - y * y) if ctx.nonlinearity == "tanh" else g * (y > 0)
        return _cell_grads(ctx, dz, dz)


def lstm_cell(input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple:
    """One LSTM step, as ``torch.lstm_cell``: returns ``(h', c')``.

    Args:
        input: x (N, I), or (I,) unbatched.
        hx: ``(h, c)``, each (N, H) (or (H,)).
        w_ih, w_hh: (4H, I) and (4H, H), gates i, f, g, o. b_ih, b_hh: (4H,) or None.

    Raises:
        ValueError: shapes that don't fit together.
    """
    h, c = hx
    packed = LSTMCell.apply(input, h, c, w_ih, w_hh, b_ih, b_hh)
    shape = _data(h).shape
    return _unpack(packed, [shape, shape])


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One GRU step, as ``torch.gru_cell``: x (N, I) or (I,), hx (N, H) or (H,), w_ih (3H, I)
    and w_hh (3H, H) with gates r, z, n -> h'.

    Raises:
        ValueError: shapes that don't fit together.
    """
    return GRUCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman RNN step h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), as
    ``torch.rnn_tanh_cell``: x (N, I) or (I,), hx (N, H) or (H,) -> h'.

    Raises:
        ValueError: shapes that don't fit together.
    """
    return RNNCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman RNN step with relu, as ``torch.rnn_relu_cell``; see
    :func:`rnn_tanh_cell`."""
    return RNNCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")


# ----------------------------------------------------------------------- sequences
#
# Layout. One direction of one layer keeps everything feature-major, so that each gate is a
# contiguous block of rows and every elementwise op runs on contiguous memory:
#
#   buf (L+1, K, N), K = H + I + 1: column block ``buf[r]`` is [h; x; 1]. The step at time
#       t reads row ``prev`` and writes its h into row ``out``, with (prev, out) = (t, t+1)
#       forward and (t+1, t) reverse; buf[prev][H:] holds x_t and a row of ones. So one
#       GEMM ``W_aug @ buf[prev]`` with W_aug = [W_hh | W_ih | b] gives every gate's
#       pre-activation of a step, input projection and bias included, and backward gets
#       [dW_hh | dW_ih | db] of all steps as one GEMM dZ @ buf^T.
#
# Internal gate (row) orders:
#   LSTM [o, i, f, g], and a state row block [o, i, f, g, c_prev]: the sigmoids are
#        contiguous, and [i, f] * [g, c_prev] is one multiply.
#   GRU  [r, z, xn, hn] with xn = W_in x + b_in and hn = W_hn h + b_hn (W_aug has zero
#        blocks where a row ignores h or x), so n = tanh(xn + r hn).
# Sigmoid rows of the forward weights are pre-scaled by 0.5 (exact), so one tanh over all
# gates gives every activation: s(x) = 0.5 tanh(x/2) + 0.5.

_LSTM_PERM = (3, 0, 1, 2)  # internal row block k is torch's gate block _LSTM_PERM[k]


def _order(reverse: bool, length: int) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _blocks(w: np.ndarray, hid: int) -> list[np.ndarray]:
    return [w[k * hid:(k + 1) * hid] for k in range(w.shape[0] // hid)]


class _Direction:
    """Buffers of one direction of one layer, kept on ``ctx.layers`` for backward and for
    the stepping UI: ``buf`` (see the layout note above), and per mode the activations."""

    def __init__(self, reverse: bool, buf: np.ndarray, hid: int):
        self.reverse = reverse
        self.buf = buf
        self.hidden_size = hid

    @property
    def rows_in(self) -> slice:
        """Rows of buf that the steps read, in time order."""
        return slice(1, None) if self.reverse else slice(None, -1)

    @property
    def rows_out(self) -> slice:
        """Rows of buf that the steps wrote, in time order."""
        return slice(None, -1) if self.reverse else slice(1, None)

    @property
    def outputs(self) -> np.ndarray:
        """h_t for t = 0..L-1, feature-major (L, H, N)."""
        return self.buf[self.rows_out, :self.hidden_size]


class _LSTMMode:
    gates = 4
    rows = 4  # internal row blocks
    sig = 3  # leading sigmoid blocks
    name = "lstm"

    @staticmethod
    def weights(w_ih, w_hh, bias, hid):
        """(W_aug rows in internal order: list of (W_hh block, W_ih block, bias block))."""
        hh, ih = _blocks(w_hh, hid), _blocks(w_ih, hid)
        b = _blocks(bias, hid) if bias is not None else [None] * 4
        return [(hh[p], ih[p], b[p]) for p in _LSTM_PERM]

    @staticmethod
    def grads(dw, hid, inp, nb):
        """torch-layout (dW_ih, dW_hh, db_ih, db_hh) from dW_aug (4H, K)."""
        k = _blocks(dw, hid)
        torch_order = [k[_LSTM_PERM.index(j)] for j in range(4)]
        full = np.concatenate(torch_order)
        db = full[:, -1] if nb else None
        return full[:, hid:hid + inp], full[:, :hid], db, db

    @staticmethod
    def forward(d, c0, w_s):
        buf = d.buf
        L = buf.shape[0] - 1
        N = buf.shape[2]
        H = d.hidden_size
        H2, H3, H4 = 2 * H, 3 * H, 4 * H
        z = _empty((L + 1, 5 * H, N), buf.dtype)  # row block prev: [o, i, f, g, c_prev]
        tc = _empty((L, H, N), buf.dtype)
        prods = _empty((L, H2, N), buf.dtype)  # [i g; f c_prev] per step, kept for backward
        z[L if d.reverse else 0, H4:] = c0
        dot, add, mul, tanh = np.dot, np.add, np.multiply, np.tanh
        # per-step views made up front, in C (list() of an array), not by indexing in
        # the loop: a small step's numpy calls cost about as much as their Python around
        g4s, sig, ifs, gcs, cs = (list(z[:, :H4]), list(z[:, :H3]), list(z[:, H:H3]),
                                  list(z[:, H3:]), list(z[:, H4:]))
        os_, bufs, hs = list(z[:, :H]), list(buf), list(buf[:, :H])
        ps, p0s, p1s, tcs = list(prods), list(prods[:, :H]), list(prods[:, H:]), list(tc)
        half = np.asarray(0.5, buf.dtype)
        for t in _order(d.reverse, L):
            prev, out = (t + 1, t) if d.reverse else (t, t + 1)
            g4 = g4s[prev]
            dot(w_s, bufs[prev], g4)
            tanh(g4, g4)
            s = sig[prev]
            mul(s, half, s)
            add(s, half, s)
            mul(ifs[prev], gcs[prev], ps[t])
            c = cs[out]
            add(p0s[t], p1s[t], c)
            tt = tcs[t]
            tanh(c, tt)
            mul(os_[prev], tt, hs[out])
        d.z, d.tanh_c, d.prods = z, tc, prods
        d.c_n = z[0 if d.reverse else L, H4:]

    @staticmethod
    def backward(d, dy, steps, dh, dc, wh_t):
        """dy (L, H, N) or None, nonzero only at ``steps``; dh, dc (H, N) the gradients of
        the final states (updated in place to those of the initial states). Returns dZ
        (L, 4H, N), the gradient of the pre-activations in internal order.

        Per step (s' = s(1-s)):  dh_t = dy_t + dh,  dc_t = dh_t o (1 - tanh(c)^2) + dc,
        dZ = [dh_t tanh(c) o', dc_t g i', dc_t c_prev f', dc_t i (1 - g^2)],
        dc <- dc_t f,  dh <- W_hh^T dZ. The factors multiplying dh_t and dc_t are computed
        for a chunk of steps at a time, just before the loop needs them (cache-warm)."""
        tc = d.tanh_c
        L, H, N = tc.shape
        zg = d.z[d.rows_in]  # each step's [o, i, f, g, c_prev]
        k = _empty((L, 4 * H, N), tc.dtype)  # dZ_o / dh_t, and dZ_i, dZ_f, dZ_g / dc_t
        q = _empty(tc.shape, tc.dtype)  # dc_t / dh_t = o (1 - tanh(c)^2)
        f = zg[:, 2 * H:3 * H]
        dz = _empty((L, 4 * H, N), tc.dtype)
        k3 = k.reshape(L, 4, H, N)
        dz3 = dz.reshape(L, 4, H, N)
        g_h = _empty((H, N), tc.dtype)
        dot, add, mul, sub = np.dot, np.add, np.multiply, np.subtract
        chunk = max(1, 8192 // (H * N)) * 4
        starts = range(0, L, chunk)
        hs = d.outputs  # h_t = o tanh(c_t), (L, H, N)
        for c0 in (starts if d.reverse else reversed(starts)):
            # with h = o tc and [ig; fc] = [i g; f c_prev] from the forward:
            # K_o = tc o(1-o) = h - h o,  [K_i; K_f] = [ig; fc] - [ig; fc] * [i; f],
            # K_g = i (1 - g^2) = i - ig g,  q = o (1 - tc^2) = o - h tc
            sl = slice(c0, min(L, c0 + chunk))
            kk, zs, ps, hh = k[sl], zg[sl], d.prods[sl], hs[sl]
            ko = kk[:, :H]
            mul(hh, zs[:, :H], out=ko)
            sub(hh, ko, out=ko)
            kif = kk[:, H:3 * H]
            mul(ps, zs[:, H:3 * H], out=kif)
            sub(ps, kif, out=kif)
            kg = kk[:, 3 * H:]
            mul(ps[:, :H], zs[:, 3 * H:4 * H], out=kg)
            sub(zs[:, H:2 * H], kg, out=kg)
            qs = q[sl]
            mul(hh, tc[sl], out=qs)
            sub(zs[:, :H], qs, out=qs)
            # per-step views made in C up front (see the forward)
            dzo, dzr, dzs = list(dz3[sl, 0]), list(dz3[sl, 1:]), list(dz[sl])
            ko, kr, qt, ft = list(k3[sl, 0]), list(k3[sl, 1:]), list(qs), list(f[sl])
            for t in (range(sl.start, sl.stop) if d.reverse
                      else range(sl.stop - 1, sl.start - 1, -1)):
                j = t - sl.start
                if t in steps:
                    add(dy[t], dh, g_h)
                    cur = g_h
                else:
                    cur = dh
                dct = dzo[j]  # scratch for dc_t until dZ_o is written over it
                mul(cur, qt[j], dct)
                add(dct, dc, dct)
                mul(kr[j], dct, dzr[j])
                mul(dct, ft[j], dc)
                mul(cur, ko[j], dct)
                dot(wh_t, dzs[j], dh)
        return dz


class _GRUMode:
    gates = 3
    rows = 4
    sig = 2
    name = "gru"

    @staticmethod
    def weights(w_ih, w_hh, bias_pair, hid):
        hr, hz, hn = _blocks(w_hh, hid)
        ir, iz, in_ = _blocks(w_ih, hid)
        if bias_pair is None:
            br = bz = bin_ = bhn = None
        else:
            b_ih, b_hh = bias_pair
            (bir, biz, bin_), (bhr, bhz, bhn) = _blocks(b_ih, hid), _blocks(b_hh, hid)
            br, bz = bir + bhr, biz + bhz
        return [(hr, ir, br), (hz, iz, bz), (None, in_, bin_), (hn, None, bhn)]

    @staticmethod
    def grads(dw, hid, inp, nb):
        r, z, xn, hn = _blocks(dw, hid)
        w_ih = np.concatenate([r[:, hid:hid + inp], z[:, hid:hid + inp],
                               xn[:, hid:hid + inp]])
        w_hh = np.concatenate([r[:, :hid], z[:, :hid], hn[:, :hid]])
        if not nb:
            return w_ih, w_hh, None, None
        return (w_ih, w_hh, np.concatenate([r[:, -1], z[:, -1], xn[:, -1]]),
                np.concatenate([r[:, -1], z[:, -1], hn[:, -1]]))

    @staticmethod
    def forward(d, c0, w_s):
        buf = d.buf
        L = buf.shape[0] - 1
        N = buf.shape[2]
        H = d.hidden_size
        H2, H3 = 2 * H, 3 * H
        gates = _empty((L, 4 * H, N), buf.dtype)  # [r, z, xn, hn] (r, z activated)
        n_all = _empty((L, H, N), buf.dtype)
        dot, add, sub, mul, tanh = np.dot, np.add, np.subtract, np.multiply, np.tanh
        for t in _order(d.reverse, L):
            prev, out = (t + 1, t) if d.reverse else (t, t + 1)
            gt = gates[t]
            dot(w_s, buf[prev], out=gt)
            rz = gt[:H2]
            tanh(rz, out=rz)
            mul(rz, 0.5, out=rz)
            add(rz, 0.5, out=rz)
            n = n_all[t]
            mul(gt[:H], gt[H3:], out=n)
            add(n, gt[H2:H3], out=n)
            tanh(n, out=n)
            ho = buf[out, :H]
            sub(buf[prev, :H], n, out=ho)
            mul(ho, gt[H:H2], out=ho)
            add(ho, n, out=ho)
        d.gates, d.n = gates, n_all
        d.c_n = None

    @staticmethod
    def backward(d, dy, steps, dh, dc, wh_t):
        gates, n = d.gates, d.n
        L, H, N = n.shape
        r, z, hn = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]
        m = _empty((L, 3 * H, N), gates.dtype)  # d[r, z, xn] pre-activations / dh
        a = m[:, 2 * H:]
        np.multiply(n, n, out=a)
        np.subtract(1.0, a, out=a)
        a *= 1.0 - z
        np.multiply(a * hn, r * (1.0 - r), out=m[:, :H])
        np.multiply(d.buf[d.rows_in, :H] - n, z * (1.0 - z), out=m[:, H:2 * H])
        m3 = m.reshape(L, 3, H, N)
        dz = _empty((L, 4 * H, N), gates.dtype)
        dz4 = dz.reshape(L, 4, H, N)
        g_h = _empty((H, N), gates.dtype)
        tmp = _empty((H, N), gates.dtype)
        dot, add, mul = np.dot, np.add, np.multiply
        for t in _order(not d.reverse, L):
            if t in steps:
                add(dy[t], dh, out=g_h)
                cur = g_h
            else:
                cur = g_h
                g_h[...] = dh
            mul(m3[t], cur, out=dz4[t, :3])
            mul(dz4[t, 2], r[t], out=dz4[t, 3])
            dot(wh_t, dz[t], out=dh)
            mul(cur, z[t], out=tmp)
            add(dh, tmp, out=dh)
        return dz


class _RNNMode:
    gates = rows = 1
    sig = 0

    def __init__(self, nonlinearity: str):
        self.name = f"rnn_{nonlinearity}"
        self.relu = nonlinearity == "relu"

    @staticmethod
    def weights(w_ih, w_hh, bias, hid):
        return [(w_hh, w_ih, bias)]

    @staticmethod
    def grads(dw, hid, inp, nb):
        db = dw[:, -1] if nb else None
        return dw[:, hid:hid + inp], dw[:, :hid], db, db

    def forward(self, d, c0, w_s):
        buf = d.buf
        L = buf.shape[0] - 1
        H = d.hidden_size
        for t in _order(d.reverse, L):
            prev, out = (t + 1, t) if d.reverse else (t, t + 1)
            ho = buf[out, :H]
            np.dot(w_s, buf[prev], out=ho)
            if self.relu:
                np.maximum(ho, 0, out=ho)
            else:
                np.tanh(ho, out=ho)
        d.c_n = None

    def backward(self, d, dy, steps, dh, dc, wh_t):
        y = d.outputs
        L, H, N = y.shape
        if self.relu:
            deriv = (y > 0).astype(y.dtype)
        else:
            deriv = y * y
            np.subtract(1.0, deriv, out=deriv)
        dz = _empty((L, H, N), y.dtype)
        for t in _order(not d.reverse, L):
            zt = dz[t]
            if t in steps:
                np.add(dy[t], dh, out=zt)
                zt *= deriv[t]
            else:
                np.multiply(dh, deriv[t], out=zt)
            np.dot(wh_t, zt, out=dh)
        return dz


_LSTM_MODE = _LSTMMode()
_GRU_MODE = _GRUMode()


def _augmented(mode, w_ih, w_hh, b_ih, b_hh, hid: int, dtype) -> tuple:
    """The weights of one direction in the layout of the loops: W_s = [W_hh | W_ih | b] in
    the mode's internal row order (R, K), sigmoid rows halved (for the forward's single
    tanh), and W_hh^T (H, R) unscaled, for dh = W_hh^T dZ. (W_ih for dx is taken from W_s
    in backward, only when needed: :func:`_input_weight`.)"""
    inp = w_ih.shape[1]
    nb = b_ih is not None
    rows = mode.rows * hid
    if mode is _LSTM_MODE:  # a row permutation of [W_hh | W_ih | b_ih + b_hh]
        cat = _empty((rows, hid + inp + nb), dtype)
        cat[:, :hid] = w_hh
        cat[:, hid:hid + inp] = w_ih
        if nb:
            np.add(b_ih, b_hh, out=cat[:, -1])
        w_s = _empty(cat.shape, dtype)
        for k, p in enumerate(_LSTM_PERM):  # contiguous row blocks: plain copies
            w_s[k * hid:(k + 1) * hid] = cat[p * hid:(p + 1) * hid]
    else:
        w_s = _empty((rows, hid + inp + nb), dtype)
        w_s[...] = 0.0
        bias = ((b_ih, b_hh) if mode is _GRU_MODE else b_ih + b_hh) if nb else None
        for k, (hh, ih, b) in enumerate(mode.weights(w_ih, w_hh, bias, hid)):
            block = w_s[k * hid:(k + 1) * hid]
            if hh is not None:
                block[:, :hid] = hh
            if ih is not None:
                block[:, hid:hid + inp] = ih
            if nb and b is not None:
                block[:, -1] = b
    wh_t = _empty((hid, rows), dtype)
    wh_t[...] = w_s[:, :hid].T
    if mode.sig:
        w_s[:mode.sig * hid] *= 0.5
    return w_s, wh_t


def _input_weight(d, mode) -> np.ndarray:
    """W_ih in the internal row order, unscaled (R, I), from the direction's W_s."""
    hid = d.hidden_size
    wx = d.w_s[:, hid:hid + d.input_size].copy()
    if mode.sig:
        wx[:mode.sig * hid] *= 2.0
    return wx


def _nonzero_steps(dy: np.ndarray) -> set:
    """The time steps t with some nonzero dy[t], for dy (L, N, H) time-major (possibly a
    view of a batch-first array): often only the last step gets a gradient."""
    if dy.strides[1] == dy.shape[0] * dy.strides[0] and dy.strides[0] == dy.shape[2] * \
            dy.itemsize:  # a (N, L, H) array seen time-major
        n, rows = dy.shape[1], dy.shape[0] * dy.shape[2]
        flags = dy.swapaxes(0, 1).reshape(n, rows).any(axis=0).reshape(dy.shape[0], -1)
        return set(np.flatnonzero(flags.any(axis=1)).tolist())
    flat = dy.reshape(dy.shape[0], -1) if dy.flags.c_contiguous else dy
    return set(np.flatnonzero(flat.any(axis=tuple(range(1, flat.ndim)))).tolist())


def _dropout_mask(shape: tuple, p: float, dtype: Any) -> np.ndarray:
    keep = _random.generator().random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * (1.0 / (1.0 - p))


class _Sequence(Function):
    """A whole multi-layer, optionally bidirectional recurrent network over a sequence,
    as one op. Inputs: x, h0, c0 (None when absent) and the flat parameter list, per
    layer and direction ``w_ih, w_hh[, b_ih, b_hh]``. Output: packed flat
    [output (L, N, D*H) in the input's layout, h_n (num_layers*D, N, H)[, c_n]].

    Backward runs back through time in one loop per layer and direction (BPTT); the
    weight gradients of all steps are one GEMM dZ @ [h; x; 1]^T."""

    mode: Any = None

    @classmethod
    def forward(cls, ctx, x, h0, c0, *params, has_biases=True, num_layers=1, dropout=0.0,
                train=True, bidirectional=False, batch_first=False):
        mode = cls.mode
        if x.ndim not in (2, 3):
            raise ValueError(f"{mode.name}: input must be 3-D (L, N, I) (or (N, L, I) with "
                             f"batch_first) or 2-D (L, I) unbatched, got shape {x.shape}")
        unbatched = x.ndim == 2
        xt = x[:, None] if unbatched else (x.swapaxes(0, 1) if batch_first else x)
        L, N, _ = xt.shape
        D = 2 if bidirectional else 1
        per = 4 if has_biases else 2
        if len(params) != per * D * num_layers:
            raise ValueError(f"{mode.name}: expected {per * D * num_layers} parameter "
                             f"arrays for num_layers={num_layers}, D={D}, has_biases="
                             f"{has_biases}; got {len(params)}")
        H = params[1].shape[1]
        dtype = x.dtype
        states = []
        for s, name in ((h0, "h0"), (c0, "c0")):
            if s is None or (name == "c0" and mode is not _LSTM_MODE):
                states.append(None)
                continue
            want = (num_layers * D, H) if unbatched else (num_layers * D, N, H)
            if s.shape != want:
                raise ValueError(f"{mode.name}: expected {name} of shape {want}, got "
                                 f"{s.shape}")
            states.append(s[:, None] if unbatched else s)
        h0, c0 = states
        nb = int(has_biases)
        # the outputs are written straight into the packed result, in the caller's layout
        y_shape = (L, D * H) if unbatched else ((N, L, D * H) if batch_first
                                                  else (L, N, D * H))
        s_shape = (num_layers * D, H) if unbatched else (num_layers * D, N, H)
        lstm = mode is _LSTM_MODE
        ny, ns = L * N * D * H, num_layers * D * N * H
        packed = _empty(ny + ns * (2 if lstm else 1), dtype)
        y_view = packed[:ny].reshape(y_shape)
        h_n = packed[ny:ny + ns].reshape(num_layers * D, N, H)
        c_n = packed[ny + ns:].reshape(num_layers * D, N, H) if lstm else None
        layers = []
        inp = xt
        for layer in range(num_layers):
            isz = inp.shape[2]
            dirs = []
            for di in range(D):
                k = layer * D + di
                w_ih, w_hh, b_ih, b_hh = (list(params[k * per:(k + 1) * per])
                                          + [None, None])[:4]
                if w_ih.shape != (mode.gates * H, isz) or w_hh.shape != (mode.gates * H, H):
                    raise ValueError(
                        f"{mode.name}: layer {layer} expects w_ih {(mode.gates * H, isz)} "
                        f"and w_hh {(mode.gates * H, H)}, got {w_ih.shape} and {w_hh.shape}")
                w_s, wh_t = _augmented(mode, w_ih, w_hh, b_ih, b_hh, H, dtype)
                reverse = di == 1
                buf = _empty((L + 1, H + isz + nb, N), dtype)
                xrows = slice(1, None) if reverse else slice(None, -1)
                buf[xrows, H:H + isz] = inp.transpose(0, 2, 1)
                if nb:
                    buf[:, -1] = 1.0
                first = L if reverse else 0
                if h0 is None:
                    buf[first, :H] = 0.0
                else:
                    buf[first, :H] = h0[k].T
                d = _Direction(reverse, buf, H)
                d.w_s, d.wh_t, d.input_size = w_s, wh_t, isz
                mode.forward(d, 0.0 if c0 is None else c0[k].T, w_s)
                h_n[k] = buf[0 if reverse else L, :H].T
                if c_n is not None:
                    c_n[k] = d.c_n.T
                dirs.append(d)
            last = layer == num_layers - 1
            direct = last and not batch_first  # the packed output is time-major already
            out = (y_view[:, None] if unbatched else y_view) if direct else _empty(
                (L, N, D * H), dtype)
            for di, d in enumerate(dirs):
                out[:, :, di * H:(di + 1) * H] = d.outputs.transpose(0, 2, 1)
            if last and not direct:  # two cheap copies beat one 3-axis transposition
                y_view.swapaxes(0, 1)[...] = out
            mask = None
            if dropout > 0 and train and not last:
                mask = _dropout_mask(out.shape, dropout, dtype)
                out *= mask
            layers.append(dict(dirs=dirs, mask=mask, input_size=isz))
            inp = out
        shapes = [y_shape, s_shape] + ([s_shape] if lstm else [])
        ctx.save(layers=layers, shapes=shapes, unbatched=unbatched,
                 batch_first=batch_first, hidden_size=H, per=per, D=D, has_biases=nb)
        return packed

    @classmethod
    def backward(cls, ctx, g):
        mode = cls.mode
        shapes, H, D, per, nb = ctx.shapes, ctx.hidden_size, ctx.D, ctx.per, ctx.has_biases
        parts, start = [], 0
        for s in shapes:
            size = math.prod(s)
            parts.append(g[start:start + size].reshape(s))
            start += size
        dy, dh_n = parts[0], parts[1]
        dc_n = parts[2] if len(parts) > 2 else None
        if ctx.unbatched:
            dy, dh_n = dy[:, None], dh_n[:, None]
            dc_n = None if dc_n is None else dc_n[:, None]
        elif ctx.batch_first:
            dy = dy.swapaxes(0, 1)
        need = ctx.needs_input_grad
        grads: list = [None] * len(need)
        dh0 = _empty(dh_n.shape, g.dtype) if need[1] else None
        dc0 = _empty(dh_n.shape, g.dtype) if len(need) > 2 and need[2] else None
        for layer in range(len(ctx.layers) - 1, -1, -1):
            rec = ctx.layers[layer]
            if rec["mask"] is not None:
                dy = dy * rec["mask"]
            isz = rec["input_size"]
            want_dx = layer > 0 or need[0]
            dx = None
            for di, d in enumerate(rec["dirs"]):
                k = layer * D + di
                dyd = dy if D == 1 else dy[:, :, di * H:(di + 1) * H]
                steps = _nonzero_steps(dyd)
                dyf = dyd.transpose(0, 2, 1)  # (L, H, N)
                if len(steps) > 2:
                    dyf = np.ascontiguousarray(dyf)
                # copies: updated in place below, and the upstream must stay untouched
                dh = np.array(dh_n[k].T, order="C")
                dc = np.array(dc_n[k].T, order="C") if dc_n is not None else None
                dz = mode.backward(d, dyf, steps, dh, dc, d.wh_t)
                if dh0 is not None:
                    dh0[k] = dh.T
                if dc0 is not None:
                    dc0[k] = dc.T
                L, R, N = dz.shape
                base = 3 + k * per
                if any(need[base:base + per]):
                    # dW_aug = sum_t dZ_t [h; x; 1]_t^T: per-step GEMMs as one batched
                    # matmul, summed over t by a GEMV (cheaper than transposing dZ)
                    b = d.buf[d.rows_in]
                    b_n = _empty((L, N, b.shape[1]), dz.dtype)
                    b_n[...] = b.transpose(0, 2, 1)
                    per_step = np.matmul(dz, b_n)
                    dw = np.dot(np.ones(L, dz.dtype), per_step.reshape(L, -1)).reshape(
                        R, b.shape[1])
                    for j, gw in enumerate(mode.grads(dw, H, isz, nb)[:per]):
                        if need[base + j]:
                            grads[base + j] = gw
                if want_dx:  # dx_t = dZ_t^T W_ih, all steps at once: (L, N, I)
                    part = np.matmul(dz.transpose(0, 2, 1), _input_weight(d, mode))
                    if dx is None:
                        dx = part
                    else:
                        dx += part
            dy = None if dx is None else dx.reshape(L, N, isz)
        if need[0]:
            grads[0] = dy[:, 0] if ctx.unbatched else (dy.swapaxes(0, 1) if ctx.batch_first
                                                       else dy)
        if dh0 is not None:
            grads[1] = dh0[:, 0] if ctx.unbatched else dh0
        if dc0 is not None:
            grads[2] = dc0[:, 0] if ctx.unbatched else dc0
        return tuple(grads)


class LSTM(_Sequence):
    """Multi-layer (bidirectional) LSTM over a whole sequence, one fused op; see
    :func:`lstm`. Saved per layer and direction (``ctx.layers``): hidden states, gates
    and tanh(c) of every step."""

    mode = _LSTM_MODE


class GRU(_Sequence):
    """Multi-layer (bidirectional) GRU over a whole sequence, one fused op; see
    :func:`gru`."""

    mode = _GRU_MODE


class RNN(_Sequence):
    """Multi-layer (bidirectional) Elman RNN with tanh over a whole sequence, one fused op;
    see :func:`rnn_tanh`."""

    mode = _RNNMode("tanh")


class RNNReLU(_Sequence):
    """As :class:`RNN` with relu; see :func:`rnn_relu`."""

    mode = _RNNMode("relu")


def _run(op: type, input: Tensor, hx: Sequence | None, params: Sequence[Tensor],
         has_biases: bool, num_layers: int, dropout: float, train: bool,
         bidirectional: bool, batch_first: bool) -> tuple:
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout should be a number in range [0, 1], got {dropout}")
    h0, c0 = (None, None) if hx is None else (tuple(hx) + (None,))[:2]
    packed = op.apply(input, h0, c0, *params, has_biases=has_biases, num_layers=num_layers,
                      dropout=dropout, train=train, bidirectional=bidirectional,
                      batch_first=batch_first)
    return _unpack(packed, _shapes(op, input, params, num_layers, bidirectional, batch_first))


def _shapes(op, input, params, num_layers, bidirectional, batch_first) -> list:
    """Output shapes when no graph was recorded (under no_grad)."""
    x = _data(input)
    D = 2 if bidirectional else 1
    H = _data(params[1]).shape[1]
    if x.ndim == 2:
        y, s = (x.shape[0], D * H), (num_layers * D, H)
    else:
        y, s = x.shape[:2] + (D * H,), (num_layers * D, x.shape[0 if batch_first else 1], H)
    return [y, s] + ([s] if op is LSTM else [])


def lstm(input: Tensor, hx: Sequence[Tensor] | None, params: Sequence[Tensor],
         has_biases: bool = True, num_layers: int = 1, dropout: float = 0.0,
         train: bool = True, bidirectional: bool = False, batch_first: bool = False
         ) -> tuple:
    """A multi-layer LSTM over a whole sequence, as ``torch.lstm`` (what ``nn.LSTM`` runs):
    returns ``(output, h_n, c_n)``, one fused op.

    Args:
        input: (L, N, I), or (N, L, I) with ``batch_first``, or (L, I) unbatched.
        hx: ``(h0, c0)``, each (num_layers*D, N, H) ((num_layers*D, H) unbatched), or None
            for zeros.
        params: per layer, per direction (forward, then reverse): w_ih (4H, I_layer),
            w_hh (4H, H) and, if ``has_biases``, b_ih, b_hh (4H,). I_layer is I for layer
            0, D*H after.
        dropout: probability of zeroing each output of every layer but the last (inverted
            dropout, only when ``train``).
        bidirectional: run a second direction from the end; outputs concatenated.

    Returns:
        output (L, N, D*H) (or (N, L, D*H), or (L, D*H)): the last layer's h_t;
        h_n, c_n (num_layers*D, N, H): the final states, layer by layer, forward first.

    Raises:
        ValueError: bad input rank, state shapes, parameter count or shapes, or dropout.
    """
    return _run(LSTM, input, hx, params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first)


def gru(input: Tensor, hx: Tensor | None, params: Sequence[Tensor], has_biases: bool = True,
        num_layers: int = 1, dropout: float = 0.0, train: bool = True,
        bidirectional: bool = False, batch_first: bool = False) -> tuple:
    """A multi-layer GRU over a whole sequence, as ``torch.gru``: returns
    ``(output, h_n)``. As :func:`lstm` with hx = h0 (or None) and weights (3H, .) with
    gates r, z, n."""
    return _run(GRU, input, None if hx is None else (hx,), params, has_biases, num_layers,
                dropout, train, bidirectional, batch_first)


def rnn_tanh(input: Tensor, hx: Tensor | None, params: Sequence[Tensor],
             has_biases: bool = True, num_layers: int = 1, dropout: float = 0.0,
             train: bool = True, bidirectional: bool = False, batch_first: bool = False
             ) -> tuple:
    """A multi-layer Elman RNN (tanh) over a whole sequence, as ``torch.rnn_tanh``: returns
    ``(output, h_n)``. As :func:`lstm` with hx = h0 (or None) and weights (H, .)."""
    return _run(RNN, input, None if hx is None else (hx,), params, has_biases, num_layers,
                dropout, train, bidirectional, batch_first)


def rnn_relu(input: Tensor, hx: Tensor | None, params: Sequence[Tensor],
             has_biases: bool = True, num_layers: int = 1, dropout: float = 0.0,
             train: bool = True, bidirectional: bool = False, batch_first: bool = False
             ) -> tuple:
    """As :func:`rnn_tanh` with relu, as ``torch.rnn_relu``."""
    return _run(RNNReLU, input, None if hx is None else (hx,), params, has_biases,
                num_layers, dropout, train, bidirectional, batch_first)
