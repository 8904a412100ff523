"""Functional ops, attention: scaled_dot_product_attention and multi_head_attention_forward.

Re-exported by :mod:`playground.engine.functional`. Names, arguments, defaults and mask
conventions are PyTorch's (``torch.nn.functional``).

Shapes: N batch, L target (query) length, S source (key/value) length, E embedding,
h heads, d = E / h per head.

Scaled dot-product attention (Vaswani et al. 2017, "Attention is all you need", eq. 1):

    A = softmax(Q K^T * scale + M) V,   scale = 1 / sqrt(E_q) by default,

where the mask M is 0 where a query may attend and -inf where it may not. Both ops here are
single fused Functions with hand-derived backwards. With P = softmax(S), S the masked scores
and O = P V:

    dV = P^T dO,   dP = dO V^T,   dS = P * (dP - rowsum(dP * P)),
    dQ = dS K * scale,   dK = dS^T Q * scale,   dM = dS (float masks).

A row that is masked everywhere gives all-zero weights (and output 0), as PyTorch's
``scaled_dot_product_attention`` does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _random
from .recurrent import _Part, _empty
from .tensor import Function, Tensor, unbroadcast

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


# ----------------------------------------------------------------------- helpers


def _data(t: Any) -> Any:
    return t.data if isinstance(t, Tensor) else t


_CAUSAL: dict[tuple, np.ndarray] = {}


def _causal(q_len: int, k_len: int) -> np.ndarray:
    """Bool (L, S): True where query i may attend to key j, i.e. j <= i (cached)."""
    key = (q_len, k_len)
    m = _CAUSAL.get(key)
    if m is None:
        if len(_CAUSAL) > 64:
            _CAUSAL.clear()
        m = _CAUSAL[key] = np.tril(np.ones((q_len, k_len), dtype=bool))
    return m


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Sums over the last axis, shape a.shape[:-1] + (1,). As a GEMV with a ones vector:
    numpy's own reduction over a short last axis (16 keys) is several times slower."""
    flat = a.reshape(-1, a.shape[-1])
    return np.dot(flat, np.ones(a.shape[-1], a.dtype)).reshape(a.shape[:-1] + (1,))


_TINY = {np.dtype(np.float32): np.finfo(np.float32).tiny * 1e6,
         np.dtype(np.float64): np.finfo(np.float64).tiny * 1e6}


def _softmax_(s: np.ndarray, masked: bool) -> np.ndarray:
    """Softmax over the last axis of s (..., L, S), in place, returned. With ``masked``,
    rows that are -inf everywhere become all zeros instead of NaN.

    Shifted by one max over the whole array rather than each row's (a row max over a short
    axis is slow in numpy, a global one is a single fast reduction); the shift cancels
    exactly. Rows whose own max lies so far below that their exponentials underflow are
    redone with their own max."""
    m = s.max()
    if not np.isfinite(m):  # all masked (-inf), or a NaN / inf input: shift row-wise
        m = 0.0 if masked and m == -np.inf else m
    e = _empty(s.shape, s.dtype)
    if masked:
        with np.errstate(invalid="ignore"):
            np.subtract(s, m, out=e)
    else:
        np.subtract(s, m, out=e)
    np.exp(e, out=e)
    tot = _row_sums(e)
    low = tot < _TINY.get(s.dtype, 0.0)
    if low.any():  # underflow (or a fully masked row): exact row-wise shift for those rows
        rows = low[..., 0]
        sub = s[rows]
        rm = sub.max(axis=-1, keepdims=True)
        if masked:
            rm[~np.isfinite(rm)] = 0.0
        with np.errstate(invalid="ignore"):
            e[rows] = np.exp(sub - rm)
        tot[rows] = e[rows].sum(axis=-1, keepdims=True)
        if masked:
            tot[tot == 0] = 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(e, tot, out=s)
        return s
    np.divide(e, tot, out=s)
    return s


def _softmax_grad(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """dS from dP for P = softmax(S) over the last axis: P * (dP - rowsum(dP * P)).
    Overwrites dp."""
    t = _empty(dp.shape, dp.dtype)
    np.multiply(dp, p, out=t)
    np.subtract(dp, _row_sums(t), out=dp)
    dp *= p
    return dp


def _keep_mask(shape: tuple, p: float, dtype: Any) -> np.ndarray:
    """Inverted-dropout multiplier: 1/(1-p) with probability 1-p, else 0."""
    if p >= 1.0:
        return np.zeros(shape, dtype)
    keep = _random.generator().random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * (1.0 / (1.0 - p))


def _swap(a: np.ndarray) -> np.ndarray:
    return a.swapaxes(-1, -2)


# ----------------------------------------------------------------------- SDPA


class ScaledDotProductAttention(Function):
    """softmax(Q K^T * scale + mask) V, fused (see the module doc for the backward).

    Shapes: q (*, L, E), k (*, S, E), v (*, S, Ev) with broadcastable batch dims ``*``;
    attn_mask broadcastable to (*, L, S), bool (True = may attend) or float (added) or
    None -> (*, L, Ev). Saves the attention weights P (``ctx.weights``) and the dropout
    multiplier. With ``enable_gqa``, k and v may have fewer heads (dim -3) than q, each
    shared by a group of query heads.
    """

    @staticmethod
    def forward(ctx, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                enable_gqa=False):
        if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
            raise ValueError("scaled_dot_product_attention: query, key and value need at "
                             f"least 2 dims, got {q.shape}, {k.shape}, {v.shape}")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise ValueError(
                f"scaled_dot_product_attention: query {q.shape} and key {k.shape} must share "
                f"the last dim E, key and value {v.shape} the source length S")
        rep = 1
        if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and q.shape[-3] != k.shape[-3]:
            if q.shape[-3] % k.shape[-3] or k.shape[-3] != v.shape[-3]:
                raise ValueError(f"scaled_dot_product_attention: {q.shape[-3]} query heads "
                                 f"are not a multiple of {k.shape[-3]} key/value heads")
            rep = q.shape[-3] // k.shape[-3]
            k, v = np.repeat(k, rep, axis=-3), np.repeat(v, rep, axis=-3)
        if scale is None:
            scale = 1.0 / math.sqrt(q.shape[-1])
        s = q @ _swap(k)
        s *= scale
        masked = False
        if attn_mask is not None:
            if attn_mask.dtype == np.bool_:
                np.copyto(s, -np.inf, where=~attn_mask)
            else:
                s = s + attn_mask
            masked = True
        if is_causal:
            np.copyto(s, -np.inf, where=~_causal(q.shape[-2], k.shape[-2]))
            masked = True
        p = _softmax_(s, masked)
        keep = None
        pd = p
        if dropout_p > 0:
            keep = _keep_mask(p.shape, dropout_p, p.dtype)
            pd = p * keep
        ctx.save(q=q, k=k, v=v, weights=p, keep=keep, scale=scale, rep=rep,
                 mask_shape=None if attn_mask is None else attn_mask.shape,
                 shapes=(q.shape, k.shape[:-3] + (k.shape[-3] // rep,) + k.shape[-2:]
                         if rep > 1 else k.shape,
                         v.shape[:-3] + (v.shape[-3] // rep,) + v.shape[-2:]
                         if rep > 1 else v.shape))
        return pd @ v

    @staticmethod
    def backward(ctx, g):
        q, k, v, p, keep, scale = ctx.q, ctx.k, ctx.v, ctx.weights, ctx.keep, ctx.scale
        need = ctx.needs_input_grad
        pd = p if keep is None else p * keep
        dv = _swap(pd) @ g if need[2] else None
        dp = g @ _swap(v)
        if keep is not None:
            dp *= keep
        ds = _softmax_grad(p, dp)
        dq = (ds @ k) * scale if need[0] else None
        dk = (_swap(ds) @ q) * scale if need[1] else None
        rep = ctx.rep
        qs, ks, vs = ctx.shapes
        if rep > 1:
            if dk is not None:
                dk = dk.reshape(dk.shape[:-3] + (-1, rep) + dk.shape[-2:]).sum(axis=-3)
            if dv is not None:
                dv = dv.reshape(dv.shape[:-3] + (-1, rep) + dv.shape[-2:]).sum(axis=-3)
        dm = None
        if len(need) > 3 and need[3]:
            dm = unbroadcast(ds, ctx.mask_shape)
        return (None if dq is None else unbroadcast(dq, qs),
                None if dk is None else unbroadcast(dk, ks),
                None if dv is None else unbroadcast(dv, vs), dm)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (*, L, E). key: (*, S, E). value: (*, S, Ev). Batch dims ``*`` broadcast
            (e.g. (N, h, ., .)).
        attn_mask: broadcastable to (*, L, S): bool, True where a query may attend (False
            positions are excluded), or float, added to the scores (-inf excludes; it can
            require grad). None for no mask.
        dropout_p: dropout on the attention weights (applied whenever > 0, as PyTorch).
        is_causal: query i attends to keys j <= i only (combined with attn_mask if both
            are given, as PyTorch 2.13 does).
        scale: the factor on Q K^T; default 1/sqrt(E).
        enable_gqa: grouped-query attention: key/value may have fewer heads (dim -3).

    Returns:
        (*, L, Ev). A query row masked everywhere gets output 0.

    Raises:
        ValueError: shapes that don't fit; dropout_p outside [0, 1].

    Source: Vaswani et al. (2017), eq. 1.
    """
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout_p must be in [0, 1], got {dropout_p}")
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        attn_mask = np.asarray(attn_mask)
    return ScaledDotProductAttention.apply(query, key, value, attn_mask,
                                           dropout_p=dropout_p, is_causal=is_causal,
                                           scale=scale, enable_gqa=enable_gqa)


# ----------------------------------------------------------------------- multi-head


def _heads(a: np.ndarray, n: int, length: int, h: int, batch_first: bool,
           keys: bool = False, bias: np.ndarray | None = None) -> np.ndarray:
    """Projected tokens (T, E) (+ bias (E,), added on the way) -> per-head (N, h, length,
    d) contiguous, or (N, h, d, length) with ``keys`` (K transposed, ready for Q K^T)."""
    d = a.shape[1] // h
    x = a.reshape(n, length, h, d) if batch_first else a.reshape(length, n, h, d)
    order = ((0, 2, 3, 1) if keys else (0, 2, 1, 3)) if batch_first else (
        (1, 2, 3, 0) if keys else (1, 2, 0, 3))
    out = _empty((n, h, d, length) if keys else (n, h, length, d), a.dtype)
    if bias is None:
        out[...] = x.transpose(order)
    else:
        np.add(x.transpose(order), bias.reshape((h, d, 1) if keys else (h, 1, d)), out=out)
    return out


def _tokens(a: np.ndarray, out: np.ndarray, batch_first: bool, keys: bool = False) -> None:
    """Inverse of _heads: per-head (N, h, length, d) (or (N, h, d, length) with ``keys``)
    written into tokens ``out`` (T, h*d) (a possibly strided 2-D view)."""
    n, h = a.shape[:2]
    length, d = (a.shape[3], a.shape[2]) if keys else a.shape[2:]
    x = out.reshape(n, length, h, d) if batch_first else out.reshape(length, n, h, d)
    order = ((0, 3, 1, 2) if keys else (0, 2, 1, 3)) if batch_first else (
        (3, 0, 1, 2) if keys else (2, 0, 1, 3))
    x[...] = a.transpose(order)


class MultiheadAttention(Function):
    """Multi-head attention, fused into one op: input projections, scaled dot-product
    attention over all heads as batched matmuls, head merge and output projection.

    Inputs: query (L, N, E) (or (N, L, E) with ``batch_first``), key (S, N, kdim), value
    (S, N, vdim); in_proj_weight (3E, E) or None with q/k/v_proj_weight (E, E|kdim|vdim);
    in_proj_bias (3E,) or None; out_proj_weight (E, E); out_proj_bias (E,) or None.
    Constants: ``mask`` an additive float mask broadcastable to (N, h, L, S) (padding and
    attention masks already merged, -inf = excluded) or None.

    Output: (L, N, E) (or (N, L, E)); with ``need_weights``, packed flat with the weights
    (N, L, S) averaged over heads or (N, h, L, S). Saves Q, K, V per head and the
    weights. With ``need_weights`` a fully masked row gives NaN (a plain softmax, as
    PyTorch's weights path); without, zeros (as its scaled_dot_product_attention path).
    The 1/sqrt(d) scale is folded into the query projection.
    """

    @staticmethod
    def forward(ctx, query, key, value, in_proj_weight, q_proj_weight, k_proj_weight,
                v_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads=1,
                mask=None, dropout_p=0.0, need_weights=False, average_attn_weights=True,
                batch_first=False):
        E = out_proj_weight.shape[0]
        h = num_heads
        d = E // h
        scale = 1.0 / math.sqrt(d)
        if batch_first:
            n, q_len = query.shape[:2]
            s_len = key.shape[1]
        else:
            q_len, n = query.shape[:2]
            s_len = key.shape[0]
        dtype = query.dtype
        if in_proj_weight is not None:
            ws = [in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]]
        else:
            ws = [q_proj_weight, k_proj_weight, v_proj_weight]
        bs = [None] * 3 if in_proj_bias is None else [
            in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]]
        inputs = (query, key, value)
        # group the projections that share an input and a packed weight: one GEMM each
        if in_proj_weight is not None and query is key and key is value:
            groups = [(0, (0, 1, 2))]
        elif in_proj_weight is not None and key is value:
            groups = [(0, (0,)), (1, (1, 2))]
        else:
            groups = [(0, (0,)), (1, (1,)), (2, (2,))]
        proj = [None] * 3
        pbias = [None] * 3
        packs = []
        for src, parts in groups:
            x2 = inputs[src].reshape(-1, inputs[src].shape[-1])
            w = ws[parts[0]] if len(parts) == 1 else in_proj_weight[parts[0] * E:]
            w = w.copy() if parts[0] == 0 else w
            if parts[0] == 0:  # fold the scale into the query rows
                w[:E] *= scale
            y = np.dot(x2, w.T)  # the bias is added in the head split below
            packs.append((src, parts, x2, w, y))
            for j, part in enumerate(parts):
                proj[part] = y[:, j * E:(j + 1) * E]
        if in_proj_bias is not None:
            pbias = [bs[0] * scale, bs[1], bs[2]]
        qh = _heads(proj[0], n, q_len, h, batch_first, bias=pbias[0])
        kt = _heads(proj[1], n, s_len, h, batch_first, keys=True, bias=pbias[1])
        vh = _heads(proj[2], n, s_len, h, batch_first, bias=pbias[2])
        s = np.matmul(qh, kt)  # (N, h, L, S), already scaled
        if mask is not None:
            s += mask
        p = _softmax_(s, masked=mask is not None and not need_weights)
        keep = None
        pd = p
        if dropout_p > 0:
            keep = _keep_mask(p.shape, dropout_p, dtype)
            pd = p * keep
        o = np.matmul(pd, vh)  # (N, h, L, d)
        if out_proj_bias is None:
            attn = _empty((n * q_len, E), dtype)
            w_out = out_proj_weight
        else:  # [attn, 1] @ [W_out | b_out]^T: the bias inside the GEMM (and its gradient)
            attn = _empty((n * q_len, E + 1), dtype)
            attn[:, E] = 1.0
            w_out = _empty((E, E + 1), dtype)
            w_out[:, :E] = out_proj_weight
            w_out[:, E] = out_proj_bias
        _tokens(o, attn[:, :E], batch_first)
        y = np.dot(attn, w_out.T)
        y = y.reshape(query.shape[:2] + (E,))
        ctx.save(packs=packs, q=qh, k_t=kt, v=vh, weights=p, keep=keep, attn=attn,
                 out_proj_weight=out_proj_weight, scale=scale, E=E, batch_first=batch_first,
                 need_weights=need_weights, average=average_attn_weights, y_size=y.size,
                 packed_weight=in_proj_weight is not None,
                 shapes=[None if a is None else a.shape for a in inputs])
        if not need_weights:
            return y
        w_out = pd.mean(axis=1) if average_attn_weights else pd
        return np.concatenate([y.reshape(-1), w_out.reshape(-1)])

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        E, bf = ctx.E, ctx.batch_first
        p, keep, qh, kt, vh = ctx.weights, ctx.keep, ctx.q, ctx.k_t, ctx.v
        n, h, q_len, s_len = p.shape
        gw = None
        if ctx.need_weights:
            gw = g[ctx.y_size:]
            g = g[:ctx.y_size]
        g2 = g.reshape(-1, E)
        grads: list = [None] * 10
        if need[8] or need[9]:
            dw_out = np.dot(g2.T, ctx.attn)  # (E, E[+1]): [dW_out | db_out]
            if need[8]:
                grads[8] = dw_out[:, :E]
            if need[9]:
                grads[9] = dw_out[:, E]
        dattn = np.dot(g2, ctx.out_proj_weight)
        do = _heads(dattn, n, q_len, h, bf)
        pd = p if keep is None else p * keep
        dv = np.matmul(_swap(pd), do)
        dp = np.matmul(do, _swap(vh))
        if gw is not None:
            if ctx.average:
                dp += gw.reshape(n, 1, q_len, s_len) / h
            else:
                dp += gw.reshape(p.shape)
        if keep is not None:
            dp *= keep
        ds = _softmax_grad(p, dp)
        dq = np.matmul(ds, _swap(kt))  # w.r.t. the scaled query projection
        dkt = np.matmul(_swap(qh), ds)  # (N, h, d, S)
        dproj = [dq, dkt, dv]
        packed_w = ctx.packed_weight
        dw_in = _empty((3 * E, E), g.dtype) if need[3] else None
        db_in = _empty((3 * E,), g.dtype) if need[7] else None
        for src, parts, x2, w, y in ctx.packs:
            dy = _empty(y.shape, y.dtype)
            for j, part in enumerate(parts):
                _tokens(dproj[part], dy[:, j * E:(j + 1) * E], bf, keys=part == 1)
            if need[src]:  # one gradient for an input shared by several projections
                grads[src] = np.dot(dy, w).reshape(ctx.shapes[src])
            rows = slice(parts[0] * E, (parts[-1] + 1) * E)
            if need[3] or any(need[4 + part] for part in parts):
                dws = np.dot(dy.T, x2)  # w.r.t. the (scaled) weight rows
                if parts[0] == 0:
                    dws[:E] *= ctx.scale
                if packed_w:
                    if dw_in is not None:
                        dw_in[rows] = dws
                else:
                    grads[4 + parts[0]] = dws
            if db_in is not None:
                dbs = dy.sum(axis=0)
                if parts[0] == 0:
                    dbs[:E] *= ctx.scale
                db_in[rows] = dbs
        grads[3], grads[7] = dw_in, db_in
        return tuple(grads)


def _merge_masks(key_padding_mask: Any, attn_mask: Any, n: int, h: int, q_len: int,
                 s_len: int, dtype: Any, unbatched: bool) -> np.ndarray | None:
    """One additive float mask broadcastable to (N, h, L, S) from PyTorch's two: bool
    True = excluded (-inf), float added."""
    def additive(m):
        m = np.asarray(_data(m))
        if m.dtype == np.bool_:
            out = np.zeros(m.shape, dtype)
            out[m] = -np.inf
            return out
        return m.astype(dtype, copy=False)

    merged = None
    if attn_mask is not None:
        m = additive(attn_mask)
        if m.ndim == 2:
            if m.shape != (q_len, s_len):
                raise ValueError(f"The shape of the 2D attn_mask is {m.shape}, but should be "
                                 f"{(q_len, s_len)}.")
        elif m.ndim == 3:
            if m.shape != (n * h, q_len, s_len):
                raise ValueError(f"The shape of the 3D attn_mask is {m.shape}, but should be "
                                 f"{(n * h, q_len, s_len)}.")
            m = m.reshape(n, h, q_len, s_len)
        else:
            raise ValueError(f"attn_mask's dimension {m.ndim} is not supported")
        merged = m
    if key_padding_mask is not None:
        k = additive(key_padding_mask)
        want = (s_len,) if unbatched else (n, s_len)
        if k.shape != want:
            raise ValueError(f"expecting key_padding_mask shape of {want}, but got {k.shape}")
        k = k.reshape(n, 1, 1, s_len)
        merged = k if merged is None else merged + k
    return merged


def _mha(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
         out_proj_bias, dropout_p, training, key_padding_mask, need_weights, attn_mask,
         q_proj_weight, k_proj_weight, v_proj_weight, average_attn_weights, is_causal,
         batch_first) -> tuple:
    q = _data(query)
    unbatched = q.ndim == 2
    if q.ndim not in (2, 3):
        raise ValueError(f"query should be unbatched 2D or batched 3D tensor but received "
                         f"{q.ndim}-D query tensor")
    E = _data(out_proj_weight).shape[0]
    if E % num_heads:
        raise ValueError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if unbatched:  # as (L, 1, E); PyTorch's unbatched inputs are sequence-first
        seen: dict[int, Any] = {}
        for x in (query, key, value):  # keep "the same tensor" the same, for one GEMM
            if id(x) not in seen:
                seen[id(x)] = (x.reshape(x.shape[0], 1, x.shape[1]) if isinstance(x, Tensor)
                               else np.asarray(x)[:, None])
        query, key, value = seen[id(query)], seen[id(key)], seen[id(value)]
        batch_first = False
    k = _data(key)
    n = q.shape[0] if (batch_first and not unbatched) else (1 if unbatched else q.shape[1])
    q_len = q.shape[1] if (batch_first and not unbatched) else q.shape[0]
    s_len = k.shape[1] if batch_first else k.shape[0]
    mask = _merge_masks(key_padding_mask, attn_mask, n, num_heads, q_len, s_len,
                        q.dtype, unbatched)
    packed = MultiheadAttention.apply(
        query, key, value, in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight,
        in_proj_bias, out_proj_weight, out_proj_bias, num_heads=num_heads, mask=mask,
        dropout_p=dropout_p if training else 0.0, need_weights=need_weights,
        average_attn_weights=average_attn_weights, batch_first=batch_first)
    out_shape = (q_len, E) if unbatched else ((n, q_len, E) if batch_first
                                              else (q_len, n, E))
    if not need_weights:
        if unbatched:
            packed = packed.reshape(out_shape)
        return packed, None
    w_shape = (n, q_len, s_len) if average_attn_weights else (n, num_heads, q_len, s_len)
    if unbatched:
        w_shape = w_shape[1:]
    size = q_len * n * E
    return (_Part.apply(packed, start=0, stop=size, shape=out_shape),
            _Part.apply(packed, start=size, stop=size + math.prod(w_shape),
                        shape=w_shape))


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor,
                                 embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                                 bias_k: Tensor | None, bias_v: Tensor | None,
                                 add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None,
                                 training: bool = True, key_padding_mask: Any = None,
                                 need_weights: bool = True, attn_mask: Any = None,
                                 use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None,
                                 static_k: Tensor | None = None,
                                 static_v: Tensor | None = None,
                                 average_attn_weights: bool = True,
                                 is_causal: bool = False) -> tuple:
    """Multi-head attention, as ``torch.nn.functional.multi_head_attention_forward`` (what
    ``nn.MultiheadAttention`` runs), as one fused op.

    Q = query W_q^T + b_q (W_q = in_proj_weight[:E]), likewise K and V; per head
    softmax(Q_i K_i^T / sqrt(d) + mask) V_i; heads concatenated; then out_proj.

    Args:
        query: (L, N, E) or unbatched (L, E). key: (S, N, kdim). value: (S, N, vdim).
        in_proj_weight: (3E, E), rows q, k, v; or None with ``use_separate_proj_weight``
            and q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim).
        in_proj_bias: (3E,) or None. out_proj_weight (E, E), out_proj_bias (E,) or None.
        dropout_p: dropout on the attention weights, in training only.
        key_padding_mask: (N, S): bool True = that key is padding (ignored), or float
            (added).
        attn_mask: (L, S) or (N*num_heads, L, S): bool True = NOT allowed (note: the
            opposite of scaled_dot_product_attention's convention, as in PyTorch), or
            float (added).
        need_weights: also return the attention weights (after dropout).
        average_attn_weights: average the weights over heads -> (N, L, S), else
            (N, num_heads, L, S).
        is_causal: a hint that attn_mask is the causal mask (attn_mask is still used).

    Returns:
        ``(attn_output, attn_weights)``: (L, N, E) and the weights or None.

    Raises:
        ValueError: mismatched embed dims, mask shapes or head count.
        RuntimeError: is_causal without attn_mask (as PyTorch).
        NotImplementedError: bias_k/bias_v, add_zero_attn, static_k/static_v.
    """
    if bias_k is not None or bias_v is not None or add_zero_attn:
        raise NotImplementedError("bias_k/bias_v (add_bias_kv) and add_zero_attn are not "
                                  "supported")
    if static_k is not None or static_v is not None:
        raise NotImplementedError("static_k/static_v are not supported")
    e = _data(query).shape[-1]
    if e != embed_dim_to_check:
        raise ValueError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                         f"got {e}")
    if use_separate_proj_weight:
        in_proj_weight = None
    elif in_proj_weight is None:
        raise ValueError("in_proj_weight is None but use_separate_proj_weight is False")
    else:
        q_proj_weight = k_proj_weight = v_proj_weight = None
    return _mha(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                out_proj_bias, dropout_p, training, key_padding_mask, need_weights,
                attn_mask, q_proj_weight, k_proj_weight, v_proj_weight,
                average_attn_weights, is_causal, batch_first=False)


# ----------------------------------------------------------------------- transformer blocks
#
# Two fusions used by the Transformer layers (nn.TransformerEncoderLayer & co.) where they
# apply; each equals its composition of public ops (see cases/attention.py).


class AddLayerNorm(Function):
    """y = layer_norm(x + r) over the last dim (the residual "Add & Norm" of a Transformer
    block; with r None, plain layer_norm). Shapes: x, r (*, E); weight, bias (E,) or None
    -> (*, E).

    With u = x + r, x_hat = (u - mean(u)) / sqrt(var(u) + eps) (per row, biased var):
        dweight = sum_rows g x_hat,  dbias = sum_rows g,  gw = g * weight,
        du = (gw - mean(gw) - x_hat mean(gw x_hat)) / sqrt(var + eps),  dx = dr = du.
    Row means are GEMVs with a ones vector (numpy's reductions over a short last axis are
    slow). Source: Ba, Kiros & Hinton (2016), "Layer Normalization"; Vaswani et al.
    (2017), sec. 3.1.
    """

    @staticmethod
    def forward(ctx, x, r, weight, bias, eps=1e-5):
        e = x.shape[-1]
        u = (x + r) if r is not None else x.copy()
        u2 = u.reshape(-1, e)
        ones = np.full(e, 1.0 / e, u.dtype)
        mean = np.dot(u2, ones)
        u2 -= mean[:, None]
        sq = _empty(u2.shape, u.dtype)
        np.multiply(u2, u2, out=sq)
        var = np.dot(sq, ones)
        var += eps
        invstd = 1.0 / np.sqrt(var)
        u2 *= invstd[:, None]  # x_hat
        y = u2 * weight if weight is not None else u2.copy()
        if bias is not None:
            y += bias
        ctx.save(x_hat=u2, invstd=invstd, weight=weight)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        x_hat, w = ctx.x_hat, ctx.weight
        e = x_hat.shape[1]
        g2 = g.reshape(x_hat.shape)
        dw = db = du = None
        if len(need) > 3 and need[3]:
            db = g2.sum(axis=0)
        gx = _empty(x_hat.shape, g.dtype)
        if need[2]:
            np.multiply(g2, x_hat, out=gx)
            dw = gx.sum(axis=0)
        if need[0] or need[1]:
            gw = g2 * w if w is not None else g2.copy()
            ones = np.full(e, 1.0 / e, g.dtype)
            np.multiply(gw, x_hat, out=gx)
            m2 = np.dot(gx, ones)
            m1 = np.dot(gw, ones)
            np.multiply(x_hat, m2[:, None], out=gx)
            gw -= m1[:, None]
            gw -= gx
            gw *= ctx.invstd[:, None]
            du = gw.reshape(g.shape)
        return (du if need[0] else None, du if need[1] else None, dw, db)


def add_layer_norm(x: Tensor, residual: Tensor | None, weight: Tensor | None,
                   bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """layer_norm(x + residual) over the last dim, fused (see :class:`AddLayerNorm`).
    Not part of PyTorch's API; the Transformer layers use it."""
    return AddLayerNorm.apply(x, residual, weight, bias, eps=eps)


class FeedForward(Function):
    """y = relu(x W1^T + b1) W2^T + b2: a Transformer block's position-wise feed-forward
    network with relu, fused. Shapes: x (*, E), W1 (F, E), b1 (F,) or None, W2 (E, F),
    b2 (E,) or None -> (*, E).

    Backward (h = relu(x W1^T + b1)): dW2 = g^T h, db2 = sum g, dh = g W2 masked by h > 0,
    dW1 = dh^T x, db1 = sum dh, dx = dh W1. Source: Vaswani et al. (2017), eq. 2.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        x2 = x.reshape(-1, x.shape[-1])
        h = np.dot(x2, w1.T)
        if b1 is not None:
            h += b1
        np.maximum(h, 0, out=h)
        y = np.dot(h, w2.T)
        if b2 is not None:
            y += b2
        ctx.save(x=x2, hidden=h, w1=w1, w2=w2)
        return y.reshape(x.shape[:-1] + (w2.shape[0],))

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        x2, h, w1, w2 = ctx.x, ctx.hidden, ctx.w1, ctx.w2
        g2 = g.reshape(-1, w2.shape[0])
        dw2 = np.dot(g2.T, h) if need[3] else None
        db2 = g2.sum(axis=0) if len(need) > 4 and need[4] else None
        dh = np.dot(g2, w2)
        dh *= h > 0
        dw1 = np.dot(dh.T, x2) if need[1] else None
        db1 = dh.sum(axis=0) if need[2] else None
        dx = np.dot(dh, w1).reshape(g.shape[:-1] + (w1.shape[1],)) if need[0] else None
        return dx, dw1, db1, dw2, db2


def feed_forward(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor,
                 b2: Tensor | None) -> Tensor:
    """linear(relu(linear(x, w1, b1)), w2, b2), fused (see :class:`FeedForward`). Not part
    of PyTorch's API; the Transformer layers use it."""
    return FeedForward.apply(x, w1, b1, w2, b2)
