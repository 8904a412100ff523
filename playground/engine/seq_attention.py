"""Functional ops, attention for recurrent encoder-decoders: Bahdanau's additive score,
Luong's dot and general scores, a softmax over source positions with a padding mask.

Re-exported by :mod:`playground.engine.functional`. PyTorch has no such ops; the tests
build the same formulas from torch primitives as the oracle.

Shapes: N batch, L target (query) length, S source (key/value) length, D_q query
features, D_k key features, D_v value features, A the additive score's hidden width.

Scores e (N, L, S), one per (query position t, source position s):

* additive (Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly Learning
  to Align and Translate", eq. 6 and appendix A.1.2):
  ``e_ts = v · tanh(W_q q_t + W_k k_s + b)``;
* dot (Luong, Pham & Manning 2015, "Effective Approaches to Attention-based Neural
  Machine Translation", eq. 8): ``e_ts = q_t · k_s``;
* general (Luong eq. 8): ``e_ts = q_t · (W k_s)``, W (D_q, D_k).

Then ``a_t = softmax_s(e_t)`` over the source positions that are not padding, and the
context ``c_t = sum_s a_ts v_s`` (weights @ values).

The additive score is one fused Function with a hand-derived backward. With
``H = tanh(Q W_q^T [:, :, None] + (K W_k^T + b)[:, None])`` (N, L, S, A) and upstream G
(N, L, S):

    dv = sum_{n,l,s} G H,   dZ = G v (1 - H^2),
    dQp = sum_s dZ,   dKp = sum_l dZ,   db = sum dKp,
    dq = dQp W_q,   dW_q = dQp^T q,   dk = dKp W_k,   dW_k = dKp^T k.

The masked softmax is a fused Function too (its backward is the softmax's,
``dE = P (dP - rowsum(dP P))``; excluded positions have P = 0 and get no gradient). The
dot and general scores and the context are batched matrix products of the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .attention import _softmax_, _softmax_grad
from .tensor import Function, Tensor

__all__ = ["additive_attention_scores", "masked_softmax", "additive_attention",
           "luong_attention"]


def _data(t: Any) -> Any:
    return t.data if isinstance(t, Tensor) else t


def _check3(name: str, what: str, a: np.ndarray) -> None:
    if a.ndim != 3:
        raise ValueError(f"{name}: {what} must be 3-D (N, length, features) with batch first, "
                         f"got shape {a.shape}")


# ----------------------------------------------------------------------- additive score

#: Elements of the tanh layer computed at once when no gradient is needed (evaluation).
_CHUNK = 1 << 20


class AdditiveScore(Function):
    """Bahdanau's additive score e = v · tanh(q W_q^T + k W_k^T + b), fused.

    Shapes: q (N, L, D_q), k (N, S, D_k), w_query (A, D_q), w_key (A, D_k), bias (A,) or
    None, v (A,) -> e (N, L, S). Saves the hidden tanh layer ``ctx.hidden`` (N, L, S, A)
    when a gradient is needed; without one it computes it in chunks of examples and keeps
    nothing. Backward: see the module doc.
    """

    @staticmethod
    def forward(ctx, q, k, w_query, w_key, bias, v):
        _check3("additive_attention_scores", "query", q)
        _check3("additive_attention_scores", "key", k)
        if q.shape[0] != k.shape[0]:
            raise ValueError(f"additive_attention_scores: query {q.shape} and key {k.shape} "
                             "must share the batch size N (dim 0)")
        a = v.shape[0] if v.ndim == 1 else -1
        if (w_query.shape != (a, q.shape[2]) or w_key.shape != (a, k.shape[2])
                or (bias is not None and bias.shape != (a,))):
            raise ValueError(
                f"additive_attention_scores: with v of shape {v.shape} (A,), w_query must be "
                f"(A, D_q) = ({a}, {q.shape[2]}), w_key (A, D_k) = ({a}, {k.shape[2]}) and "
                f"bias (A,); got {w_query.shape}, {w_key.shape} and "
                f"{None if bias is None else bias.shape}")
        qp = q @ w_query.T  # (N, L, A)
        kp = k @ w_key.T  # (N, S, A)
        if bias is not None:
            kp += bias
        if not any(ctx.needs_input_grad):  # inference: no (N, L, S, A) kept, in chunks
            e = np.empty(q.shape[:2] + (k.shape[1],), np.result_type(qp, v))
            step = max(1, _CHUNK // max(1, q.shape[1] * k.shape[1] * a))
            for i in range(0, q.shape[0], step):
                h = qp[i:i + step, :, None, :] + kp[i:i + step, None, :, :]
                e[i:i + step] = np.tanh(h, out=h) @ v
            return e
        h = qp[:, :, None, :] + kp[:, None, :, :]  # (N, L, S, A)
        np.tanh(h, out=h)
        e = h @ v
        ctx.save(q=q, k=k, w_query=w_query, w_key=w_key, v=v, hidden=h)
        return e

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        q, k, wq, wk, v, h = ctx.q, ctx.k, ctx.w_query, ctx.w_key, ctx.v, ctx.hidden
        a = v.shape[0]
        h2 = h.reshape(-1, a)
        dv = np.dot(g.reshape(-1), h2) if need[5] else None
        dz = h * h
        np.subtract(1.0, dz, out=dz)
        dz *= g[..., None]
        dz *= v
        dqp = dz.sum(axis=2) if need[0] or need[2] else None  # (N, L, A)
        dkp = dz.sum(axis=1) if need[1] or need[3] or need[4] else None  # (N, S, A)
        dq = dqp @ wq if need[0] else None
        dwq = np.dot(dqp.reshape(-1, a).T, q.reshape(-1, q.shape[2])) if need[2] else None
        dk = dkp @ wk if need[1] else None
        dwk = np.dot(dkp.reshape(-1, a).T, k.reshape(-1, k.shape[2])) if need[3] else None
        db = dkp.sum(axis=(0, 1)) if need[4] else None
        return dq, dk, dwq, dwk, db, dv


def additive_attention_scores(query: Tensor, key: Tensor, w_query: Tensor, w_key: Tensor,
                              bias: Tensor | None, v: Tensor) -> Tensor:
    """Bahdanau's additive attention scores ``e_ts = v · tanh(W_q q_t + W_k k_s + b)``.

    Args:
        query: (N, L, D_q), e.g. the decoder's hidden states.
        key: (N, S, D_k), e.g. the encoder's outputs.
        w_query: (A, D_q). w_key: (A, D_k). bias: (A,) or None. v: (A,).

    Returns:
        (N, L, S) unnormalised scores.

    Raises:
        ValueError: shapes that do not fit (the message gives the expected ones).

    Source: Bahdanau, Cho & Bengio (2015), eq. 6 and appendix A.1.2.
    """
    return AdditiveScore.apply(query, key, w_query, w_key, bias, v)


# ----------------------------------------------------------------------- masked softmax


def _padding(mask: Any, n: int, s: int, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(_data(mask))
    if m.dtype != np.bool_ or m.shape != (n, s):
        raise ValueError(f"{name}: key_padding_mask must be bool (N, S) = ({n}, {s}), True at "
                         f"padding positions; got dtype {m.dtype} and shape {m.shape}")
    return m


class MaskedSoftmax(Function):
    """Softmax of scores (N, L, S) over the last axis, excluding the source positions
    where ``key_padding_mask`` (N, S) is True. A row with every position excluded gets
    all-zero weights. dE = P (dP - rowsum(dP P))."""

    @staticmethod
    def forward(ctx, scores, key_padding_mask=None):
        _check3("masked_softmax", "scores", scores)
        n, _, s = scores.shape
        m = _padding(key_padding_mask, n, s, "masked_softmax")
        e = scores.copy()
        if m is not None:
            np.copyto(e, -np.inf, where=m[:, None, :])
        p = _softmax_(e, m is not None)
        ctx.save(weights=p)
        return p

    @staticmethod
    def backward(ctx, g):
        return _softmax_grad(ctx.weights, np.array(g, dtype=ctx.weights.dtype, copy=True)), None


def masked_softmax(scores: Tensor, key_padding_mask: Any = None) -> Tensor:
    """Attention weights: softmax over the source positions (last dim).

    Args:
        scores: (N, L, S).
        key_padding_mask: bool (N, S), True where the source is padding (those positions
            get weight 0, as PyTorch's ``key_padding_mask``), or None.

    Returns:
        (N, L, S) weights, each row summing to 1 over the kept positions (0 if none is).

    Raises:
        ValueError: scores not 3-D, or a mask of another shape or dtype.
    """
    return MaskedSoftmax.apply(scores, key_padding_mask)


# ----------------------------------------------------------------------- attention


def _check_kv(name: str, key: Tensor, value: Tensor) -> None:
    if value.shape[:2] != key.shape[:2]:
        raise ValueError(f"{name}: key {tuple(key.shape)} and value {tuple(value.shape)} "
                         "must share N and the source length S (dims 0 and 1)")


def additive_attention(query: Tensor, key: Tensor, value: Tensor, w_query: Tensor,
                       w_key: Tensor, bias: Tensor | None, v: Tensor,
                       key_padding_mask: Any = None) -> tuple[Tensor, Tensor]:
    """Bahdanau attention: context ``c_t = sum_s softmax_s(e_t)_s value_s`` with the
    additive score (:func:`additive_attention_scores`).

    Args:
        query (N, L, D_q), key (N, S, D_k), value (N, S, D_v); the weights as
        :func:`additive_attention_scores`; key_padding_mask bool (N, S) or None.

    Returns:
        ``(context (N, L, D_v), weights (N, L, S))``.

    Raises:
        ValueError: shapes that do not fit.
    """
    _check_kv("additive_attention", key, value)
    scores = additive_attention_scores(query, key, w_query, w_key, bias, v)
    weights = masked_softmax(scores, key_padding_mask)
    return weights @ value, weights


def luong_attention(query: Tensor, key: Tensor, value: Tensor, weight: Tensor | None = None,
                    key_padding_mask: Any = None) -> tuple[Tensor, Tensor]:
    """Luong attention: the dot score ``e_ts = q_t · k_s`` (``weight`` None) or the
    general score ``e_ts = q_t · (W k_s)``, then the masked softmax and the context.

    Args:
        query: (N, L, D_q). key: (N, S, D_k), D_k = D_q for the dot score. value:
            (N, S, D_v). weight: (D_q, D_k) for the general score, or None.
        key_padding_mask: bool (N, S), True at padding, or None.

    Returns:
        ``(context (N, L, D_v), weights (N, L, S))``.

    Raises:
        ValueError: shapes that do not fit.

    Source: Luong, Pham & Manning (2015), eq. 8.
    """
    _check3("luong_attention", "query", _data(query))
    _check3("luong_attention", "key", _data(key))
    _check_kv("luong_attention", key, value)
    if weight is None:
        if query.shape[2] != key.shape[2]:
            raise ValueError(f"luong_attention: the dot score needs query and key of one "
                             f"width, got D_q={query.shape[2]} and D_k={key.shape[2]}; use "
                             "the general score (a weight (D_q, D_k)) instead")
        projected = key
    else:
        if tuple(weight.shape) != (query.shape[2], key.shape[2]):
            raise ValueError(f"luong_attention: weight must be (D_q, D_k) = "
                             f"({query.shape[2]}, {key.shape[2]}), got {tuple(weight.shape)}")
        projected = key @ weight.transpose(0, 1)  # W k_s for every s: (N, S, D_q)
    scores = query @ projected.transpose(1, 2)
    weights = masked_softmax(scores, key_padding_mask)
    return weights @ value, weights
