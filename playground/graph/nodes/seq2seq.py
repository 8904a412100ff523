"""Attention for recurrent encoder-decoders: AdditiveAttention (Bahdanau) and
LuongAttention (dot or general score), as nodes.

Shapes (batch first): N batch, L target (query) length, S source length, D_q =
``query_dim``, D_k = ``key_dim``, D_v value features (the key's when ``value`` is not
wired), A = ``attn_dim``. Ports: ``query`` (N, L, D_q), e.g. the decoder RNN's output;
``key`` (N, S, D_k), e.g. the encoder RNN's output; ``value`` (N, S, D_v), optional
(default: the key); ``src_tokens`` (N, S) int64, optional: the source tokens, whose
positions equal to ``padding_idx`` get no attention. Outputs: ``output`` the context
(N, L, D_v) and ``attn_weights`` (N, L, S), the alignment matrix of each example.

The encoder-decoder these serve trains in one pass with teacher forcing: the decoder RNN
runs over the shifted target (N, L), starting from the encoder's last state (its h_0 wired
from the encoder's h_n), then attention reads the encoder's outputs at every decoder
position at once. This is Luong et al.'s architecture (the attention sits on top of the
decoder RNN, without input feeding); with the additive score it is the Bahdanau score on
the decoder's current state h_t instead of his s_(t-1) (Luong et al. 2015, sec. 3.1).

Costs per example (N = 1):

* AdditiveAttention: params ``A*D_q + A*D_k + A + A`` (W_q, W_k, bias, v; ``A*D_q + A*D_k +
  A`` without bias); MACs ``L*A*D_q + S*A*D_k + L*S*A + L*S*D_v``: the two projections, v
  against every tanh(...) of the L*S pairs, and the weighted sum of the values.
* LuongAttention: dot: params 0, MACs ``L*S*D_q + L*S*D_v``; general: params ``D_q*D_k``,
  MACs ``S*D_q*D_k + L*S*D_q + L*S*D_v`` (W k_s for every source position first).
"""

from __future__ import annotations

from playground.engine import nn

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import adapted, is_tokens, mismatch, need, sequence, tensor

__all__: list[str] = []


def _attend(base, self, query, key, value=None, src_tokens=None):
    mask = None
    if src_tokens is not None and self._node_padding_idx is not None:
        mask = src_tokens.data == self._node_padding_idx
    context, weights = base(self, query, key, value, key_padding_mask=mask)
    return {"output": context, "attn_weights": weights}


def _infer(p, inputs, dot: bool = False):
    q = tensor(need(inputs, "query", "the queries (N, L, query_dim), e.g. the decoder RNN's "
                                     "output"), "query")
    k = tensor(need(inputs, "key", "the keys (N, S, key_dim), e.g. the encoder RNN's "
                                   "output"), "key")
    length = sequence(q, "query", True, "query_dim")
    source = sequence(k, "key", True, "key_dim")
    if q.shape[-1] != p["query_dim"]:
        raise mismatch("query_dim={}", "query_dim", p["query_dim"], q, -1)
    if k.shape[-1] != p["key_dim"]:
        raise mismatch("key_dim={}", "key_dim", p["key_dim"], k, -1)
    if dot and p["query_dim"] != p["key_dim"]:
        raise ShapeError(f"score='dot' needs queries and keys of one width, got "
                         f"query_dim={p['query_dim']} and key_dim={p['key_dim']}. Set "
                         "score='general' (learns a (query_dim, key_dim) matrix), or make "
                         "the two RNNs' hidden_size equal.", fix=("score", "general"))
    v = inputs.get("value")
    width = k.shape[-1]
    if v is not None:
        v = tensor(need(inputs, "value", ""), "value")
        if sequence(v, "value", True, "features") != source:
            raise ShapeError(f"needs key and value of one length S; got S={source} from "
                             f"'{k.node}' and S={v.shape[1]} from '{v.node}'. Wire key and "
                             "value from the same source sequence.")
        width = v.shape[-1]
    tok = inputs.get("src_tokens")
    pad = p["padding_idx"]
    if tok is not None:
        tok = need(inputs, "src_tokens", "")
        if not is_tokens(tok) or len(tok.shape) != 2:
            raise ShapeError(f"'src_tokens' needs the integer source tokens (N, S), got "
                             f"{format_shape(tok.shape)} from '{tok.node}'.{tok.port}. Wire the "
                             "Dataset's x here.")
        if tok.shape[1] != source:
            raise ShapeError(f"'src_tokens' has {tok.shape[1]} positions from '{tok.node}' "
                             f"but the keys have S={source} from '{k.node}'. Wire the tokens "
                             "the encoder read.")
        if pad is None:
            raise ShapeError("has source tokens wired but padding_idx=None, so no position is "
                             "masked. Set padding_idx=0 (the dataset's padding token), or "
                             "unwire src_tokens.", fix=("padding_idx", 0))
    elif pad is not None:
        raise ShapeError(f"has padding_idx={pad} but nothing in 'src_tokens' to find the "
                         "padding in. Wire the Dataset's x into 'src_tokens', or set "
                         "padding_idx=None.", fix=("padding_idx", None))
    return {"output": (None, length, width), "attn_weights": (None, length, source)}


def _sizes(p, ins):
    length, source = ins["query"][1], ins["key"][1]
    dv = ins["value"][-1] if "value" in ins else ins["key"][-1]
    return length, source, dv


def _additive_cost(p, ins, outs) -> Cost:
    dq, dk, a = p["query_dim"], p["key_dim"], p["attn_dim"]
    length, source, dv = _sizes(p, ins)
    b = a if p["bias"] else 0
    params = a * dq + a * dk + b + a
    ps = "A*D_q + A*D_k + A + A" if p["bias"] else "A*D_q + A*D_k + A"
    pn = f"{a}*{dq} + {a}*{dk} + {a} + {a}" if p["bias"] else f"{a}*{dq} + {a}*{dk} + {a}"
    macs = length * a * dq + source * a * dk + length * source * a + length * source * dv
    return Cost(params, macs, f"{ps} = {pn}",
                f"L*A*D_q + S*A*D_k + L*S*A + L*S*D_v = {length}*{a}*{dq} + {source}*{a}*{dk}"
                f" + {length}*{source}*{a} + {length}*{source}*{dv}")


def _luong_cost(p, ins, outs) -> Cost:
    dq, dk = p["query_dim"], p["key_dim"]
    length, source, dv = _sizes(p, ins)
    if p["score"] == "dot":
        return Cost(0, length * source * dq + length * source * dv, "0",
                    f"L*S*D_q + L*S*D_v = {length}*{source}*{dq} + {length}*{source}*{dv}")
    macs = source * dq * dk + length * source * dq + length * source * dv
    return Cost(dq * dk, macs, f"D_q*D_k = {dq}*{dk}",
                f"S*D_q*D_k + L*S*D_q + L*S*D_v = {source}*{dq}*{dk} + {length}*{source}*{dq}"
                f" + {length}*{source}*{dv}")


def _additive_build(p, ins):
    cls = adapted(nn.AdditiveAttention, "AdditiveAttentionNode", _attend)
    module = cls(p["query_dim"], p["key_dim"], p["attn_dim"], bias=p["bias"])
    module._node_padding_idx = p["padding_idx"]
    return module


def _luong_build(p, ins):
    cls = adapted(nn.LuongAttention, "LuongAttentionNode", _attend)
    module = cls(p["query_dim"], p["key_dim"], score=p["score"])
    module._node_padding_idx = p["padding_idx"]
    return module


_INPUTS = (
    PortSpec("query", "tensor", "queries: (N, L, query_dim), e.g. the decoder RNN's output"),
    PortSpec("key", "tensor", "keys: (N, S, key_dim), e.g. the encoder RNN's output"),
    PortSpec("value", "tensor", "values: (N, S, D_v), optional (default: the key)"),
    PortSpec("src_tokens", "tensor", "source tokens (N, S), optional: padding gets no weight"),
)
_OUTPUTS = (
    PortSpec("output", "tensor", "context c_t = sum_s a_ts v_s: (N, L, D_v)"),
    PortSpec("attn_weights", "tensor", "alignment a_ts = softmax_s(e_ts): (N, L, S)"),
)
_DIMS = (
    ParamSpec("query_dim", "int", 16, "features of each query (D_q)", low=1, high=100_000),
    ParamSpec("key_dim", "int", 16, "features of each key (D_k)", low=1, high=100_000),
)
_PAD = ParamSpec("padding_idx", "int", None, "source token that is padding (masked out); "
                 "None: no mask", low=0, high=1_000_000, optional=True)

REGISTRY.register(NodeSpec(
    type="AdditiveAttention",
    category="Attention",
    description="Bahdanau attention: a small tanh network scores each (decoder position, "
                "source position) pair; the context is the softmax-weighted sum.",
    inputs=_INPUTS,
    outputs=_OUTPUTS,
    params=_DIMS + (
        ParamSpec("attn_dim", "int", 16, "hidden width A of the scoring network", low=1,
                  high=100_000),
        ParamSpec("bias", "bool", True, "learn the bias b inside the tanh"),
        _PAD),
    infer=_infer,
    build=_additive_build,
    cost=_additive_cost,
    doc="e_ts = v·tanh(W_q q_t + W_k k_s + b); a_t = softmax(e_t); c_t = Σ_s a_ts v_s "
        "(Bahdanau et al. 2015)",
))

REGISTRY.register(NodeSpec(
    type="LuongAttention",
    category="Attention",
    description="Luong attention: scores each (decoder position, source position) pair by a "
                "dot product (or q·Wk); the context is the softmax-weighted sum.",
    inputs=_INPUTS,
    outputs=_OUTPUTS,
    params=_DIMS + (
        ParamSpec("score", "choice", "dot", "dot: q·k (no parameters); general: q·(W k)",
                  choices=("dot", "general")),
        _PAD),
    infer=lambda p, inputs: _infer(p, inputs, dot=p["score"] == "dot"),
    build=_luong_build,
    cost=_luong_cost,
    doc="e_ts = q_t·k_s (dot) or q_t·W k_s (general); a_t = softmax(e_t); c_t = Σ_s a_ts v_s "
        "(Luong et al. 2015)",
))
