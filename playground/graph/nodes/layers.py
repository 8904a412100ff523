"""Layers: Linear, Embedding, Flatten, Dropout, Identity.

Costs per example (N = 1):

* Linear: params ``in_features*out_features + out_features``; MACs
  ``positions*in_features*out_features``, one multiply-accumulate per weight per position,
  where the positions are the dims between N and the features (1 for an (N, in) input).
* Embedding: params ``num_embeddings*embedding_dim``; 0 MACs (a table lookup).
* Flatten, Dropout, Identity: 0 and 0.
"""

from __future__ import annotations

from math import prod

from playground.engine import nn

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import cost_per_position, is_tokens, mismatch, need, no_cost, norm_dim, tensor
from ._init import INIT_PARAMS

# ---------------------------------------------------------------------------------- Linear


def _linear_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor (N, *, in_features)"), "input")
    got = src.shape[-1]
    if got != p["in_features"]:
        raise mismatch("in_features={}", "in_features", p["in_features"], src, -1)
    return {"output": (*src.shape[:-1], p["out_features"])}


def _linear_cost(p, ins, outs) -> Cost:
    i, o, bias = p["in_features"], p["out_features"], p["bias"]
    extra = cost_per_position(ins["input"])  # (N, *, in): each * position is one GEMV
    params = i * o + (o if bias else 0)
    pf = f"in_features*out_features{' + out_features' if bias else ''} = {i}*{o}" + \
         (f" + {o}" if bias else "")
    mf = f"in_features*out_features = {i}*{o}" if extra == 1 else \
        f"positions*in_features*out_features = {extra}*{i}*{o}"
    return Cost(params, extra * i * o, pf, mf)


REGISTRY.register(NodeSpec(
    type="Linear",
    category="Layers",
    description="Fully connected layer: y = x Wᵀ + b.",
    inputs=(PortSpec("input", "tensor", "x: (N, *, in_features)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, *, out_features)"),),
    params=(
        ParamSpec("in_features", "int", 2, "size of each input sample", low=1, high=1_000_000),
        ParamSpec("out_features", "int", 16, "size of each output sample", low=1,
                  high=1_000_000),
        ParamSpec("bias", "bool", True, "learn an additive bias b"),
        *INIT_PARAMS,
    ),
    infer=_linear_infer,
    build=lambda p, ins: nn.Linear(p["in_features"], p["out_features"], bias=p["bias"]),
    cost=_linear_cost,
))

# ------------------------------------------------------------------------------- Embedding


def _embedding_infer(p, inputs):
    src = need(inputs, "input", "integer token indices, e.g. a sequence Dataset's x")
    if not is_tokens(src):
        raise ShapeError(f"needs integer token indices in 'input', but '{src.node}'.{src.port} "
                         f"carries float values {format_shape(src.shape)}. Wire a Dataset of "
                         "token sequences (dataset=reverse) or an Input with dtype=int64.")
    num = p["num_embeddings"]
    pad = p["padding_idx"]
    if pad is not None and not -num <= pad < num:
        raise ShapeError(f"padding_idx={pad} is not a row of its {num}-row table "
                         f"(rows -{num}..{num - 1}). Set padding_idx=0.", fix=("padding_idx", 0))
    classes = (src.meta or {}).get("num_classes")
    if classes is not None and classes > num:
        raise ShapeError(f"gets indices 0..{classes - 1} from '{src.node}'.{src.port}, but its "
                         f"table has num_embeddings={num} rows. Set num_embeddings={classes}.",
                         fix=("num_embeddings", classes))
    return {"output": (*src.shape, p["embedding_dim"])}


def _embedding_cost(p, ins, outs) -> Cost:
    n, d = p["num_embeddings"], p["embedding_dim"]
    return Cost(n * d, 0, f"num_embeddings*embedding_dim = {n}*{d}", "0 (a table lookup)")


REGISTRY.register(NodeSpec(
    type="Embedding",
    category="Layers",
    description="A lookup table: each integer index selects a learned vector.",
    inputs=(PortSpec("input", "tensor", "token indices: (N, *) int64 in [0, num_embeddings)"),),
    outputs=(PortSpec("output", "tensor", "vectors: (N, *, embedding_dim)"),),
    params=(
        ParamSpec("num_embeddings", "int", 10, "rows of the table (the vocabulary size)",
                  low=1, high=10_000_000),
        ParamSpec("embedding_dim", "int", 16, "size of each vector", low=1, high=1_000_000),
        ParamSpec("padding_idx", "int", None, "a row kept at zero that gets no gradient "
                                              "(None: no such row)", optional=True),
    ),
    infer=_embedding_infer,
    build=lambda p, ins: nn.Embedding(p["num_embeddings"], p["embedding_dim"],
                                      padding_idx=p["padding_idx"]),
    cost=_embedding_cost,
))

# --------------------------------------------------------------------------------- Flatten


def _flatten_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor, e.g. the feature maps (N, C, H, W)"), "input")
    nd = len(src.shape)
    s = norm_dim(p["start_dim"], nd, src, "start_dim", fix=1)
    e = norm_dim(p["end_dim"], nd, src, "end_dim", fix=-1)
    if s > e:
        raise ShapeError(f"start_dim={p['start_dim']} comes after end_dim={p['end_dim']} for the "
                         f"{nd}-D input {format_shape(src.shape)} from '{src.node}'. Set "
                         "start_dim=1.", fix=("start_dim", 1))
    merged = src.shape[s:e + 1]
    if None in merged and len(merged) > 1:  # N*F examples would no longer be N
        raise ShapeError(f"would merge the batch dim N of {format_shape(src.shape)} from "
                         f"'{src.node}' with other dims (start_dim={p['start_dim']}, "
                         f"end_dim={p['end_dim']}): the examples would mix. Set start_dim=1.",
                         fix=("start_dim", 1) if src.shape.index(None) == 0 else None)
    size = None if None in merged else prod(merged)
    return {"output": (*src.shape[:s], size, *src.shape[e + 1:])}


REGISTRY.register(NodeSpec(
    type="Flatten",
    category="Layers",
    description="Merges dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W).",
    inputs=(PortSpec("input", "tensor", "x: (N, *dims)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, prod(dims))"),),
    params=(
        ParamSpec("start_dim", "int", 1, "first dim to merge (1: keep the batch N)",
                  low=-8, high=8),
        ParamSpec("end_dim", "int", -1, "last dim to merge (-1: the last)", low=-8, high=8),
    ),
    infer=_flatten_infer,
    build=lambda p, ins: nn.Flatten(p["start_dim"], p["end_dim"]),
    cost=no_cost,
))

# ---------------------------------------------------------------------- Dropout, Identity


def _same_shape(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    return {"output": src.shape}


REGISTRY.register(NodeSpec(
    type="Dropout",
    category="Layers",
    description="While training, zeroes each value with probability p and scales the rest "
                "by 1/(1-p); passes values through unchanged in eval mode.",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y: same shape as x"),),
    params=(ParamSpec("p", "float", 0.5, "probability of zeroing a value", low=0.0, high=1.0),),
    infer=_same_shape,
    build=lambda p, ins: nn.Dropout(p["p"]),
    cost=no_cost,
    doc="y = x*m/(1-p), m ~ Bernoulli(1-p)",
))

REGISTRY.register(NodeSpec(
    type="Identity",
    category="Layers",
    description="Passes its input through unchanged (a placeholder).",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y = x"),),
    infer=_same_shape,
    build=lambda p, ins: nn.Identity(),
    cost=no_cost,
))
