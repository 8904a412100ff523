"""Attention: MultiheadAttention, ScaledDotProductAttention, TransformerEncoderLayer,
TransformerDecoderLayer, as PyTorch's.

Shapes: N batch, L target (query) length, S source (key/value) length, E = embed_dim (or
d_model), F = dim_feedforward. With ``batch_first=True`` sequences are (N, L, E), otherwise
(L, N, E) (PyTorch's default). Attention weights are always (N, L, S), or (N, num_heads, L, S)
with ``average_attn_weights=False``.

Masks: ``is_causal`` (``tgt_is_causal`` for the decoder) makes position i attend only to
positions j <= i; the node builds the additive mask (0 on and below the diagonal, -inf
above) that PyTorch expects next to that flag.

Costs per example (N = 1), counting both matrix products of attention over the sequence:

* MultiheadAttention: params ``4*E*E + 4*E`` (in_proj (3E, E) + its bias, out_proj (E, E) +
  its bias); MACs ``2*L*E*E + 2*S*E*E + 2*L*S*E``: the query and output projections (L*E*E
  each), the key and value projections (S*E*E each), the scores Q Kᵀ (L*S*E) and the weighted
  sum of the values (L*S*E). With kdim/vdim set: params ``2*E*E + E*kdim + E*vdim + 4*E``,
  MACs ``2*L*E*E + S*E*(kdim + vdim) + 2*L*S*E``.
* ScaledDotProductAttention: 0 params; MACs ``B*(L*S*E + L*S*E_v)`` where B is the product
  of the dims between N and L (e.g. the heads).
* TransformerEncoderLayer: self-attention + feed-forward (E -> F -> E) + 2 LayerNorms:
  params ``4*E*E + 4*E + 2*E*F + F + E + 2*2*E``; MACs ``4*L*E*E + 2*L*L*E + 2*L*E*F``.
* TransformerDecoderLayer: self-attention on the target (length L), cross-attention to the
  memory (length S), feed-forward and 3 LayerNorms: params ``2*(4*E*E + 4*E) + 2*E*F + F + E
  + 3*2*E``; MACs ``4*L*E*E + 2*L*L*E + 2*L*E*E + 2*S*E*E + 2*L*S*E + 2*L*E*F``.

LayerNorms count 2*E params each and, by the convention of :mod:`.norm`, no MACs.
"""

from __future__ import annotations

import math
from math import prod

import numpy as np

from playground.engine import Tensor, nn
from playground.engine import functional as F

from ..spec import (REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, Source,
                    format_shape)
from ._common import (Lambda, adapted, mismatch, need, no_cost, seq_len, sequence, tensor,
                      upstream_hint)


def causal_mask(length: int, like: Tensor, source: int | None = None) -> Tensor:
    """The (L, S) additive causal mask: 0 where j <= i, -inf where j > i."""
    source = length if source is None else source
    mask = np.triu(np.full((length, source), -np.inf, dtype=like.data.dtype), 1)
    return Tensor(mask)


def _heads(p, e_param: str, h_param: str) -> None:
    e, h = p[e_param], p[h_param]
    if e % h:
        best = max(k for k in range(1, h + 1) if e % k == 0)
        raise ShapeError(f"has {e_param}={e}, which is not divisible by {h_param}={h}: each "
                         f"head attends with {e_param}/{h_param} features. Set {h_param}="
                         f"{best}.", fix=(h_param, best))


def _features(p, src: Source, port: str, e_param: str, first: bool):
    """Check the last dim of ``src`` is E. For the first input the fix is E itself; for the
    others (E already matches the first) the upstream node must change."""
    e = p[e_param]
    if src.shape[-1] == e:
        return
    if first:
        raise mismatch(f"{e_param}={{}} features in '{port}'", e_param, e, src, -1)
    hint = upstream_hint(src, -1).replace(", or change ", "")
    fix = f"Set {hint}={e}" if hint else f"Make '{src.node}' output {e} features"
    raise ShapeError(f"expects {e_param}={e} features in '{port}', got {src.shape[-1]} from "
                     f"'{src.node}'. {fix}.")


# ---------------------------------------------------------------------- MultiheadAttention


def _kv_features(p, src: Source, port: str, param: str) -> None:
    """Key and value features: kdim / vdim, or embed_dim when those are None."""
    if p[param] is None:
        _features(p, src, port, "embed_dim", False)
        return
    if src.shape[-1] != p[param]:
        raise mismatch(f"{param}={{}} features in '{port}'", param, p[param], src, -1)


def _mha_infer(p, inputs):
    _heads(p, "embed_dim", "num_heads")
    bf = p["batch_first"]
    q = tensor(need(inputs, "query", "the queries (N, L, E), e.g. the previous layer"), "query")
    k = tensor(need(inputs, "key", "the keys (N, S, E): for self-attention the same node as "
                                   "'query'"), "key")
    v = tensor(need(inputs, "value", "the values (N, S, E): for self-attention the same node "
                                     "as 'query'"), "value")
    length = sequence(q, "query", bf, "embed_dim")
    _features(p, q, "query", "embed_dim", True)
    s_k = sequence(k, "key", bf, "kdim")
    _kv_features(p, k, "key", "kdim")
    s_v = sequence(v, "value", bf, "vdim")
    _kv_features(p, v, "value", "vdim")
    if s_k != s_v:
        raise ShapeError(f"needs key and value of one length S; got S={s_k} from '{k.node}' and "
                         f"S={s_v} from '{v.node}'. Wire key and value from sequences of the "
                         "same length.")
    if p["is_causal"] and length != s_k:
        raise ShapeError(f"is_causal=True needs queries and keys of one length, got L={length} "
                         f"from '{q.node}' and S={s_k} from '{k.node}'. Set is_causal=False.",
                         fix=("is_causal", False))
    weights = (None, length, s_k) if p["average_attn_weights"] else \
        (None, p["num_heads"], length, s_k)
    return {"output": q.shape, "attn_weights": weights}


def _mha_numbers(e: int, length: int, source: int, bias: bool, kdim: int | None = None,
                 vdim: int | None = None) -> tuple[int, str, str, int, str, str]:
    """(params, symbolic and numeric formula, MACs, symbolic and numeric formula)."""
    if kdim is None and vdim is None:
        params = 4 * e * e + (4 * e if bias else 0)
        ps, pn = ("4*E*E + 4*E", f"4*{e}*{e} + 4*{e}") if bias else ("4*E*E", f"4*{e}*{e}")
        macs = 2 * length * e * e + 2 * source * e * e + 2 * length * source * e
        ms = "2*L*E*E + 2*S*E*E + 2*L*S*E"
        mn = f"2*{length}*{e}*{e} + 2*{source}*{e}*{e} + 2*{length}*{source}*{e}"
        return params, ps, pn, macs, ms, mn
    kd, vd = kdim or e, vdim or e
    params = 2 * e * e + e * kd + e * vd + (4 * e if bias else 0)
    ps = "2*E*E + E*kdim + E*vdim" + (" + 4*E" if bias else "")
    pn = f"2*{e}*{e} + {e}*{kd} + {e}*{vd}" + (f" + 4*{e}" if bias else "")
    macs = 2 * length * e * e + source * e * (kd + vd) + 2 * length * source * e
    ms = "2*L*E*E + S*E*(kdim + vdim) + 2*L*S*E"
    mn = f"2*{length}*{e}*{e} + {source}*{e}*({kd} + {vd}) + 2*{length}*{source}*{e}"
    return params, ps, pn, macs, ms, mn


def _mha_cost(p, ins, outs) -> Cost:
    bf = p["batch_first"]
    params, ps, pn, macs, ms, mn = _mha_numbers(p["embed_dim"], seq_len(ins["query"], bf),
                                                seq_len(ins["key"], bf), p["bias"], p["kdim"],
                                                p["vdim"])
    return Cost(params, macs, f"{ps} = {pn}", f"{ms} = {mn}")


def _mha_forward(base, self, query, key, value):
    mask = None
    if self._node_causal:
        axis = 1 if self.batch_first else 0
        mask = causal_mask(query.shape[axis], query, key.shape[axis])
    output, weights = base(self, query, key, value, need_weights=True, attn_mask=mask,
                           average_attn_weights=self._node_average)
    return {"output": output, "attn_weights": weights}


def _mha_build(p, ins):
    cls = adapted(nn.MultiheadAttention, "MultiheadAttentionNode", _mha_forward)
    module = cls(p["embed_dim"], p["num_heads"], dropout=p["dropout"], bias=p["bias"],
                 kdim=p["kdim"], vdim=p["vdim"], batch_first=p["batch_first"])
    module._node_causal = p["is_causal"]
    module._node_average = p["average_attn_weights"]
    return module


_SEQ = "(N, L, E) if batch_first else (L, N, E)"

REGISTRY.register(NodeSpec(
    type="MultiheadAttention",
    category="Attention",
    description="Multi-head attention: num_heads scaled dot-product attentions over learned "
                "projections of query, key and value.",
    inputs=(PortSpec("query", "tensor", "queries: " + _SEQ),
            PortSpec("key", "tensor", "keys: (N, S, kdim) if batch_first else (S, N, kdim)"),
            PortSpec("value", "tensor", "values: (N, S, vdim) if batch_first else "
                                        "(S, N, vdim)")),
    outputs=(PortSpec("output", "tensor", "attended values: " + _SEQ),
             PortSpec("attn_weights", "tensor", "softmax(Q Kᵀ/√d): (N, L, S), or (N, num_heads, "
                                                "L, S) unaveraged")),
    params=(
        ParamSpec("embed_dim", "int", 16, "model width E (features of query, key and value)",
                  low=1, high=100_000),
        ParamSpec("num_heads", "int", 2, "parallel heads; each uses embed_dim/num_heads "
                                         "features", low=1, high=1024),
        ParamSpec("dropout", "float", 0.0, "dropout on the attention weights (training only)",
                  low=0.0, high=1.0),
        ParamSpec("bias", "bool", True, "learn biases in the input and output projections"),
        ParamSpec("kdim", "int", None, "features of the keys (None: embed_dim)", low=1,
                  high=100_000, optional=True),
        ParamSpec("vdim", "int", None, "features of the values (None: embed_dim)", low=1,
                  high=100_000, optional=True),
        ParamSpec("batch_first", "bool", False, "sequences are (N, L, E) instead of (L, N, E)"),
        ParamSpec("average_attn_weights", "bool", True, "average attn_weights over the heads"),
        ParamSpec("is_causal", "bool", False, "position i attends only to positions j <= i"),
    ),
    infer=_mha_infer,
    build=_mha_build,
    cost=_mha_cost,
    doc="head_i = softmax(Q W_i^Q (K W_i^K)ᵀ / √(E/h)) V W_i^V; out = [head_1..head_h] W^O",
))

# --------------------------------------------------------------- ScaledDotProductAttention


def _sdpa_infer(p, inputs):
    q = tensor(need(inputs, "query", "the queries (N, ..., L, E)"), "query")
    k = tensor(need(inputs, "key", "the keys (N, ..., S, E)"), "key")
    v = tensor(need(inputs, "value", "the values (N, ..., S, E_v)"), "value")
    for src, port in ((q, "query"), (k, "key"), (v, "value")):
        if len(src.shape) < 3 or src.shape[0] is not None:
            raise ShapeError(f"expects '{port}' shaped (N, ..., length, features), got "
                             f"{format_shape(src.shape)} from '{src.node}'. Add a Reshape to "
                             "(length, features) before it.")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ShapeError(f"needs query, key and value with the same leading dims; got "
                         f"{format_shape(q.shape)} from '{q.node}', {format_shape(k.shape)} from "
                         f"'{k.node}' and {format_shape(v.shape)} from '{v.node}'. Reshape them "
                         "to one (N, ..., length, features) layout.")
    if k.shape[-1] != q.shape[-1]:
        raise ShapeError(f"needs keys with as many features as the queries (E={q.shape[-1]} "
                         f"from '{q.node}'), got {k.shape[-1]} from '{k.node}'. Make '{k.node}' "
                         f"output {q.shape[-1]} features.")
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"needs key and value of one length S; got S={k.shape[-2]} from "
                         f"'{k.node}' and S={v.shape[-2]} from '{v.node}'. Wire key and value "
                         "from sequences of the same length.")
    if p["is_causal"] and q.shape[-2] != k.shape[-2]:
        raise ShapeError(f"is_causal=True needs queries and keys of one length, got "
                         f"L={q.shape[-2]} from '{q.node}' and S={k.shape[-2]} from "
                         f"'{k.node}'. Set is_causal=False.", fix=("is_causal", False))
    return {"output": (*q.shape[:-1], v.shape[-1])}


def _sdpa_cost(p, ins, outs) -> Cost:
    q, v = ins["query"], ins["value"]
    length, e, source, ev = q[-2], q[-1], v[-2], v[-1]
    b = prod(d for d in q[1:-2])
    macs = b * (length * source * e + length * source * ev)
    body_s, body_n = "L*S*E + L*S*E_v", f"{length}*{source}*{e} + {length}*{source}*{ev}"
    if b != 1:
        body_s, body_n = f"B*({body_s})", f"{b}*({body_n})"
    return Cost(0, macs, "0", f"{body_s} = {body_n}")


class ScaledDotProductAttentionNode(nn.Module):
    """``F.scaled_dot_product_attention`` as a module: no parameters; dropout only while
    training."""

    def __init__(self, dropout_p: float = 0.0, is_causal: bool = False,
                 scale: float | None = None):
        super().__init__()
        self.dropout_p, self.is_causal, self.scale = dropout_p, is_causal, scale

    def forward(self, query, key, value):
        return F.scaled_dot_product_attention(query, key, value,
                                              dropout_p=self.dropout_p if self.training else 0.0,
                                              is_causal=self.is_causal, scale=self.scale)

    def extra_repr(self) -> str:
        return f"dropout_p={self.dropout_p}, is_causal={self.is_causal}, scale={self.scale}"


REGISTRY.register(NodeSpec(
    type="ScaledDotProductAttention",
    category="Attention",
    description="softmax(Q Kᵀ · scale) V, without learned weights (scale defaults to 1/√E).",
    inputs=(PortSpec("query", "tensor", "Q: (N, ..., L, E)"),
            PortSpec("key", "tensor", "K: (N, ..., S, E)"),
            PortSpec("value", "tensor", "V: (N, ..., S, E_v)")),
    outputs=(PortSpec("output", "tensor", "(N, ..., L, E_v)"),),
    params=(
        ParamSpec("dropout_p", "float", 0.0, "dropout on the attention weights (training only)",
                  low=0.0, high=1.0),
        ParamSpec("is_causal", "bool", False, "position i attends only to positions j <= i"),
        ParamSpec("scale", "float", None, "factor on Q Kᵀ (None: 1/√E)", optional=True),
    ),
    infer=_sdpa_infer,
    build=lambda p, ins: ScaledDotProductAttentionNode(p["dropout_p"], p["is_causal"],
                                                       p["scale"]),
    cost=_sdpa_cost,
    doc="Attention(Q, K, V) = softmax(Q Kᵀ/√E) V (Vaswani et al. 2017, eq. 1)",
))

# ------------------------------------------------------------------- Transformer layers

_LAYER_PARAMS = (
    ParamSpec("d_model", "int", 16, "model width E (features of every position)", low=1,
              high=100_000),
    ParamSpec("nhead", "int", 2, "attention heads; each uses d_model/nhead features", low=1,
              high=1024),
    ParamSpec("dim_feedforward", "int", 2048, "hidden width F of the feed-forward block",
              low=1, high=1_000_000),
    ParamSpec("dropout", "float", 0.1, "dropout after attention and feed-forward (training "
                                       "only)", low=0.0, high=1.0),
    ParamSpec("activation", "choice", "relu", "activation of the feed-forward block",
              choices=("relu", "gelu")),
    ParamSpec("layer_norm_eps", "float", 1e-5, "eps of the LayerNorms", low=0.0, high=1.0),
    ParamSpec("batch_first", "bool", False, "sequences are (N, L, E) instead of (L, N, E)"),
    ParamSpec("norm_first", "bool", False, "LayerNorm before each block (pre-LN) instead of "
                                           "after (post-LN)"),
    ParamSpec("bias", "bool", True, "learn biases in the linear layers and LayerNorms"),
)


def _layer_kwargs(p) -> dict:
    return dict(dim_feedforward=p["dim_feedforward"], dropout=p["dropout"],
                activation=p["activation"], layer_norm_eps=p["layer_norm_eps"],
                batch_first=p["batch_first"], norm_first=p["norm_first"], bias=p["bias"])


def _ffn_numbers(e, f, bias) -> tuple[int, str, str]:
    if bias:
        return 2 * e * f + f + e, "2*E*F + F + E", f"2*{e}*{f} + {f} + {e}"
    return 2 * e * f, "2*E*F", f"2*{e}*{f}"


def _encoder_infer(p, inputs):
    _heads(p, "d_model", "nhead")
    src = tensor(need(inputs, "src", "a batch of sequences (N, L, d_model)"), "src")
    sequence(src, "src", p["batch_first"], "d_model")
    _features(p, src, "src", "d_model", True)
    return {"output": src.shape}


def _encoder_cost(p, ins, outs) -> Cost:
    e, f, bias = p["d_model"], p["dim_feedforward"], p["bias"]
    length = seq_len(ins["src"], p["batch_first"])
    a, a_s, a_n, _, _, _ = _mha_numbers(e, length, length, bias)
    ff, f_s, f_n = _ffn_numbers(e, f, bias)
    norms = 2 * (2 * e if bias else e)
    n_s, n_n = ("2*2*E", f"2*2*{e}") if bias else ("2*E", f"2*{e}")
    macs = 4 * length * e * e + 2 * length * length * e + 2 * length * e * f
    return Cost(a + ff + norms, macs, f"{a_s} + {f_s} + {n_s} = {a_n} + {f_n} + {n_n}",
                f"4*L*E*E + 2*L*L*E + 2*L*E*F = 4*{length}*{e}*{e} + 2*{length}*{length}*{e} "
                f"+ 2*{length}*{e}*{f}")


def _encoder_forward(base, self, src):
    mask = None
    if self._node_causal:
        mask = causal_mask(src.shape[1 if self._node_batch_first else 0], src)
    return base(self, src, src_mask=mask)


def _encoder_build(p, ins):
    cls = adapted(nn.TransformerEncoderLayer, "TransformerEncoderLayerNode", _encoder_forward)
    module = cls(p["d_model"], p["nhead"], **_layer_kwargs(p))
    module._node_causal = p["is_causal"]
    module._node_batch_first = p["batch_first"]
    return module


REGISTRY.register(NodeSpec(
    type="TransformerEncoderLayer",
    category="Attention",
    description="Transformer encoder block: self-attention and a feed-forward network, each "
                "with a residual connection and LayerNorm.",
    inputs=(PortSpec("src", "tensor", "sequence: " + _SEQ),),
    outputs=(PortSpec("output", "tensor", "same shape as src"),),
    params=_LAYER_PARAMS + (
        ParamSpec("is_causal", "bool", False, "position i attends only to positions j <= i"),),
    infer=_encoder_infer,
    build=_encoder_build,
    cost=_encoder_cost,
    doc="x = LN(x + SelfAttn(x)); y = LN(x + W_2 act(W_1 x)) (Vaswani et al. 2017)",
))


def _decoder_infer(p, inputs):
    _heads(p, "d_model", "nhead")
    tgt = tensor(need(inputs, "tgt", "the target sequence (N, L, d_model)"), "tgt")
    mem = tensor(need(inputs, "memory", "the encoder's output (N, S, d_model)"), "memory")
    sequence(tgt, "tgt", p["batch_first"], "d_model")
    _features(p, tgt, "tgt", "d_model", True)
    sequence(mem, "memory", p["batch_first"], "d_model")
    _features(p, mem, "memory", "d_model", False)
    return {"output": tgt.shape}


def _decoder_cost(p, ins, outs) -> Cost:
    e, f, bias = p["d_model"], p["dim_feedforward"], p["bias"]
    length = seq_len(ins["tgt"], p["batch_first"])
    source = seq_len(ins["memory"], p["batch_first"])
    a, a_s, a_n, _, _, _ = _mha_numbers(e, length, length, bias)
    ff, f_s, f_n = _ffn_numbers(e, f, bias)
    norms = 3 * (2 * e if bias else e)
    n_s, n_n = ("3*2*E", f"3*2*{e}") if bias else ("3*E", f"3*{e}")
    macs = (4 * length * e * e + 2 * length * length * e + 2 * length * e * e
            + 2 * source * e * e + 2 * length * source * e + 2 * length * e * f)
    return Cost(2 * a + ff + norms, macs,
                f"2*({a_s}) + {f_s} + {n_s} = 2*({a_n}) + {f_n} + {n_n}",
                f"4*L*E*E + 2*L*L*E + 2*L*E*E + 2*S*E*E + 2*L*S*E + 2*L*E*F = "
                f"4*{length}*{e}*{e} + 2*{length}*{length}*{e} + 2*{length}*{e}*{e} + "
                f"2*{source}*{e}*{e} + 2*{length}*{source}*{e} + 2*{length}*{e}*{f}")


def _decoder_forward(base, self, tgt, memory):
    mask = None
    if self._node_causal:
        mask = causal_mask(tgt.shape[1 if self._node_batch_first else 0], tgt)
    return base(self, tgt, memory, tgt_mask=mask)


def _decoder_build(p, ins):
    cls = adapted(nn.TransformerDecoderLayer, "TransformerDecoderLayerNode", _decoder_forward)
    module = cls(p["d_model"], p["nhead"], **_layer_kwargs(p))
    module._node_causal = p["tgt_is_causal"]
    module._node_batch_first = p["batch_first"]
    return module


REGISTRY.register(NodeSpec(
    type="TransformerDecoderLayer",
    category="Attention",
    description="Transformer decoder block: self-attention on the target, cross-attention to "
                "the encoder's memory, and a feed-forward network.",
    inputs=(PortSpec("tgt", "tensor", "target sequence: " + _SEQ),
            PortSpec("memory", "tensor", "encoder output: (N, S, E) if batch_first else "
                                         "(S, N, E)")),
    outputs=(PortSpec("output", "tensor", "same shape as tgt"),),
    params=_LAYER_PARAMS + (
        ParamSpec("tgt_is_causal", "bool", False, "target position i attends only to target "
                                                  "positions j <= i (for generation)"),),
    infer=_decoder_infer,
    build=_decoder_build,
    cost=_decoder_cost,
    doc="x = LN(x + SelfAttn(x)); x = LN(x + CrossAttn(x, memory)); y = LN(x + FFN(x))",
))

# -- primitives of the attention and positional-encoding blocks -----------------------


def _causal_infer(p, inputs):
    src = tensor(need(inputs, "input", "attention scores (N, *, L, S)"), "input")
    if len(src.shape) < 3 or None in src.shape[-2:]:
        raise ShapeError(f"expects scores (N, *, L, S), got {format_shape(src.shape)} from "
                         f"'{src.node}'. Wire the query-key MatMul here.")
    return {"output": src.shape}


def _causal_build(p, ins):
    def mask(input):
        l, s = input.shape[-2:]
        table = np.triu(np.full((l, s), -np.inf, dtype=input.data.dtype), k=1)
        return input + Tensor(table)
    return Lambda(mask, "-inf above the diagonal")


REGISTRY.register(NodeSpec(
    type="CausalMask",
    category="Attention",
    description="Masks attention scores so position i sees only positions ≤ i (−∞ above "
                "the diagonal, as is_causal=True).",
    inputs=(PortSpec("input", "tensor", "scores: (N, *, L, S)"),),
    outputs=(PortSpec("output", "tensor", "scores with -inf where key j > query i"),),
    infer=_causal_infer,
    build=_causal_build,
    cost=no_cost,
    doc="y_ij = x_ij if j <= i else -inf",
))


def sinusoidal_table(length: int, d_model: int, dtype=np.float32) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(same), shape
    (length, d_model) (Vaswani et al. 2017, "Attention is all you need", §3.5)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div)[:, :d_model // 2]
    return pe.astype(dtype)


def _table_infer(p, inputs):
    src = tensor(need(inputs, "input", "a batch of sequences (N, L, E)"), "input")
    if len(src.shape) != 3 or src.shape[0] is not None:
        raise ShapeError(f"expects a batch of sequences (N, L, E), got "
                         f"{format_shape(src.shape)} from '{src.node}'. Use batch_first "
                         "layout (N, L, E).")
    return {"output": src.shape[1:]}


REGISTRY.register(NodeSpec(
    type="SinusoidalTable",
    category="Attention",
    description="The fixed sinusoidal positional-encoding table (L, E) for an input "
                "(N, L, E); add it to the input.",
    inputs=(PortSpec("input", "tensor", "x: (N, L, E), only its L and E are read"),),
    outputs=(PortSpec("output", "tensor", "PE: (L, E), a constant"),),
    infer=_table_infer,
    build=lambda p, ins: Lambda(
        lambda input: Tensor(sinusoidal_table(input.shape[1], input.shape[2],
                                              input.data.dtype)), "sin/cos table"),
    cost=no_cost,
    doc="PE[pos, 2i] = sin(pos/10000^(2i/E)), PE[pos, 2i+1] = cos(pos/10000^(2i/E))",
))


__all__ = ["causal_mask", "sinusoidal_table"]
