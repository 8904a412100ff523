"""Op cases for :mod:`playground.engine.attention`, and the reference expansions of
scaled dot-product attention (Q K^T * scale (+ mask) -> softmax -> . V) and of multi-head
attention (projections, per-head attention, merge, output projection) into primitive ops.

Bool masks are constants (not differentiated); a float mask is an input and gets a
gradient.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..testing import ExpansionCase, OpCase, _args, _const, _n

OP_CASES: list = []
EXPANSIONS: list = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _bool_mask(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """A random bool mask with at least one True per row (no fully masked row)."""
    def make(rng):
        m = rng.random(shape) < 0.6
        m[..., 0] = True
        return m
    return make


_sdpa = lambda F, q, k, v, **kw: F.scaled_dot_product_attention(q, k, v, **kw)  # noqa: E731

_case("sdpa", _sdpa, _n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3))
_case("sdpa_heads_odd_lengths_Lq3_Lk5", _sdpa, _n(1, 2, 3, 4), _n(1, 2, 5, 4),
      _n(1, 2, 5, 2))
_case("sdpa_is_causal", lambda F, q, k, v: F.scaled_dot_product_attention(
    q, k, v, is_causal=True), _n(2, 4, 3), _n(2, 4, 3), _n(2, 4, 3))
_case("sdpa_is_causal_Lq_lt_Lk", lambda F, q, k, v: F.scaled_dot_product_attention(
    q, k, v, is_causal=True), _n(1, 3, 2), _n(1, 5, 2), _n(1, 5, 3))
_case("sdpa_bool_mask_broadcast", lambda F, q, k, v, m: F.scaled_dot_product_attention(
    q, k, v, attn_mask=m), _n(2, 2, 3, 4), _n(2, 2, 5, 4), _n(2, 2, 5, 3),
    _bool_mask(3, 5))
_case("sdpa_float_mask_with_grad", lambda F, q, k, v, m: F.scaled_dot_product_attention(
    q, k, v, attn_mask=m), _n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3), _n(1, 3, 5))
_case("sdpa_scale", lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7),
      _n(3, 4), _n(5, 4), _n(5, 2))
_case("sdpa_batch_broadcast", _sdpa, _n(2, 1, 3, 2), _n(1, 2, 4, 2), _n(1, 2, 4, 3))
_case("sdpa_batch_of_1", _sdpa, _n(1, 1, 3), _n(1, 2, 3), _n(1, 2, 3))
_case("sdpa_large_scores", lambda F, q, k, v: F.scaled_dot_product_attention(
    q * 30, k, v), _n(2, 3, 4), _n(2, 3, 4), _n(2, 3, 2))


def _mha(F, q, k, v, w_in, b_in, w_out, b_out, heads=2, **kw):
    """Multi-head attention through F.multi_head_attention_forward, q (L, N, E)."""
    out, w = F.multi_head_attention_forward(q, k, v, q.shape[-1], heads, w_in, b_in, None,
                                            None, False, 0.0, w_out, b_out, **kw)
    return out if w is None else _flat_pair(F, out, w)


def _flat_pair(F, a, b):
    from ..testing import _top
    return _top(F).cat([a.flatten(), b.flatten()])


_case("multi_head_attention_self", lambda F, x, wi, bi, wo, bo: _mha(
    F, x, x, x, wi, bi, wo, bo, need_weights=False), _n(3, 2, 4), _n(12, 4), _n(12),
    _n(4, 4), _n(4))
_case("multi_head_attention_cross_weights_per_head", lambda F, q, kv, wi, bi, wo, bo: _mha(
    F, q, kv, kv, wi, bi, wo, bo, average_attn_weights=False), _n(2, 1, 4), _n(3, 1, 4),
    _n(12, 4), _n(12), _n(4, 4), _n(4))
_case("multi_head_attention_padding_mask", lambda F, q, k, v, wi, bi, wo, bo, m: _mha(
    F, q, k, v, wi, bi, wo, bo, key_padding_mask=m), _n(2, 2, 4), _n(3, 2, 4),
    _n(3, 2, 4), _n(12, 4), _n(12), _n(4, 4), _n(4),
    _const(np.array([[False, False, True], [False, True, False]])))


# -- expansions ----------------------------------------------------------------------------


def _sdpa_reference(q, k, v, mask=None, is_causal=False):
    """softmax(Q K^T / sqrt(E) + mask) V from primitives: matmul, transpose, mul, add,
    softmax."""
    from .. import functional as F
    from ..tensor import Tensor
    s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        s = s + mask
    if is_causal:
        lq, lk = q.shape[-2], k.shape[-2]
        s = s + Tensor(np.where(np.tril(np.ones((lq, lk), bool)), 0.0, -np.inf))
    return F.softmax(s, dim=-1) @ v


def _fused(name):
    from .. import functional as F
    return getattr(F, name)


EXPANSIONS.append(ExpansionCase(
    "scaled_dot_product_attention",
    lambda q, k, v: _fused("scaled_dot_product_attention")(q, k, v),
    _sdpa_reference, _args(_n(2, 2, 3, 4), _n(2, 2, 5, 4), _n(2, 2, 5, 3))))
EXPANSIONS.append(ExpansionCase(
    "scaled_dot_product_attention_float_mask",
    lambda q, k, v, m: _fused("scaled_dot_product_attention")(q, k, v, attn_mask=m),
    _sdpa_reference, _args(_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3), _n(3, 5))))
EXPANSIONS.append(ExpansionCase(
    "scaled_dot_product_attention_causal",
    lambda q, k, v: _fused("scaled_dot_product_attention")(q, k, v, is_causal=True),
    lambda q, k, v: _sdpa_reference(q, k, v, is_causal=True),
    _args(_n(2, 4, 3), _n(2, 4, 3), _n(2, 4, 2))))


def _mha_reference(q, k, v, w_in, b_in, w_out, b_out, heads=2):
    """Multi-head attention from primitives, q (L, N, E): project, split heads, attend,
    merge heads, project."""
    from .. import functional as F
    E = q.shape[-1]
    d = E // heads

    def split(x, w, b):  # (L, N, E) -> (N, h, L, d)
        y = F.linear(x, w, b)
        return y.reshape(x.shape[0], x.shape[1], heads, d).permute(1, 2, 0, 3)

    qh = split(q, w_in[:E], b_in[:E])
    kh = split(k, w_in[E:2 * E], b_in[E:2 * E])
    vh = split(v, w_in[2 * E:], b_in[2 * E:])
    o = _sdpa_reference(qh, kh, vh)  # (N, h, L, d)
    o = o.permute(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], E)
    return F.linear(o, w_out, b_out)


EXPANSIONS.append(ExpansionCase(
    "multi_head_attention",
    lambda q, k, v, wi, bi, wo, bo: _fused("multi_head_attention_forward")(
        q, k, v, 4, 2, wi, bi, None, None, False, 0.0, wo, bo, need_weights=False)[0],
    _mha_reference,
    _args(_n(3, 2, 4), _n(5, 2, 4), _n(5, 2, 4), _n(12, 4), _n(12), _n(4, 4), _n(4))))


# -- the Transformer-block fusions (attention.add_layer_norm, attention.feed_forward) -----
# Not in PyTorch's API: on torch's F a case runs the composition they fuse.


def _is_ours(F: Any) -> bool:
    return F.__name__.startswith("playground")


def _add_norm(F, x, r, w, b):
    if _is_ours(F):
        from .. import attention as A
        return A.add_layer_norm(x, r, w, b)
    return F.layer_norm(x + r, (x.shape[-1],), w, b)


def _ffn(F, x, w1, b1, w2, b2):
    if _is_ours(F):
        from .. import attention as A
        return A.feed_forward(x, w1, b1, w2, b2)
    return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)


_case("add_layer_norm", _add_norm, _n(2, 3, 5), _n(2, 3, 5), _n(5), _n(5))
_case("add_layer_norm_batch_of_1", _add_norm, _n(1, 4), _n(1, 4), _n(4), _n(4))
_case("feed_forward_relu", _ffn, _n(2, 3, 4), _n(6, 4), _n(6), _n(4, 6), _n(4))
_case("feed_forward_relu_batch_of_1", _ffn, _n(1, 3), _n(5, 3), _n(5), _n(3, 5), _n(3))


def _fused_block(name):
    from .. import attention as A
    return getattr(A, name)


EXPANSIONS.append(ExpansionCase(
    "add_layer_norm", lambda x, r, w, b: _fused_block("add_layer_norm")(x, r, w, b),
    lambda x, r, w, b: _fused("layer_norm")(x + r, (x.shape[-1],), w, b),
    _args(_n(3, 2, 6), _n(3, 2, 6), _n(6), _n(6))))
EXPANSIONS.append(ExpansionCase(
    "feed_forward_relu",
    lambda x, w1, b1, w2, b2: _fused_block("feed_forward")(x, w1, b1, w2, b2),
    lambda x, w1, b1, w2, b2: _fused("linear")(_fused("relu")(_fused("linear")(x, w1, b1)),
                                               w2, b2),
    _args(_n(2, 3, 4), _n(7, 4), _n(7), _n(4, 7), _n(4))))
