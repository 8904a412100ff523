"""A project's model to an ONNX file, built with the ``onnx`` package's helper API.

What is exported is the *model* part of the graph, with every block exported through its
parts (a ResNet block becomes its Conv, BatchNormalization, Relu and Add nodes):

* **Graph inputs** (batch dim ``N`` dynamic): the Dataset node's outputs the model reads
  (``x``, and ``target`` where the model itself reads it, as ShiftRight does for teacher
  forcing), each Input node (named after the node), each NoiseSource (``(N, dim)``, named
  after the node: the noise is the caller's) and, for each Reparameterize node, its
  ``eps`` (``"<node id>.eps"``, ``(N, D)`` standard normal draws, so that
  ``z = mu + exp(logvar/2) * eps`` is exact and repeatable).
* **Graph outputs**: the values the loss nodes consume (the logits or predictions; a
  VAE's ``mu`` and ``logvar`` too), named after the node that makes them (``"fc2"``, or
  ``"<node id>.<port>"`` for a port other than ``output``). The losses themselves are left
  out: a deployed model has no targets. A graph without a loss (an architecture preset)
  exports the outputs of its last nodes. A GAN exports its generator (``part="generator"``,
  input the noise) or its discriminator (``part="discriminator"``, input a batch ``x``).
* **Weights**: from ``program`` (a Session's current parameters and BatchNorm statistics)
  if given, else the project's weights (the ``.npz`` beside it, as ``project.load`` reads
  it), else freshly initialised ones from the project's seed (as a new Session draws them).

The model runs as ours does in evaluation mode: Dropout passes its input through (ONNX's
Dropout outside training), BatchNorm uses its running statistics. Attention (multi-head,
scaled dot-product, Bahdanau's additive and Luong's, with their padding masks) is
decomposed into MatMul, Softmax and friends so that it reads in Netron; RNN, LSTM and
GRU become ONNX's own ops (one per layer), the gates reordered from PyTorch's (i, f, g, o)
to ONNX's (i, o, f, c) and from (r, z, n) to (z, r, h), GRU with ``linear_before_reset=1``
(PyTorch's formula).

Blocks are exported through their parts, each part named ``"<block id>/<part>"``; the
model's metadata (:data:`BLOCKS_KEY`) lists each block's type and params, so that
:mod:`playground.export.onnx_import` can put the blocks back together.

The ONNX opset (:data:`OPSET`) and IR version (:data:`IR_VERSION`) are pinned: onnx 1.23
would write IR 11+, which onnxruntime 1.30 refuses. ``onnx`` is imported only when a
function here runs; the app does not depend on it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from playground.engine import manual_seed
from playground.graph import GraphModel, Program, compile
from playground.graph.compile import FlatNode, flatten
from playground.project import Project

#: The ONNX operator set and IR version written (onnxruntime 1.30 reads IR ≤ 10).
OPSET = 21
IR_VERSION = 10

PARTS = ("generator", "discriminator")
#: Model metadata key: ``{block id: {"type", "params"}}`` of the blocks exported through
#: their parts (their nodes' names start with ``"<block id>/"``).
BLOCKS_KEY = "dl_playground.blocks"
_MISSING_ONNX = "ONNX export needs the onnx package: pip install onnx"


class ExportError(ValueError):
    """The project cannot be exported; the message says why and what to do."""


def require_onnx():
    """The ``onnx`` module; ExportError with the pip command when it is not installed."""
    try:
        import onnx
    except ImportError:
        raise ExportError(_MISSING_ONNX) from None
    return onnx


# ------------------------------------------------------------------------------ builder


class _Builder:
    """Collects ONNX nodes and initializers with unique names."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self.names: set[str] = set()
        self.prefix = ""

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def init(self, suffix: str, array: np.ndarray, dtype=np.float32) -> str:
        """An initializer named ``"<node id>.<suffix>"`` (the state-dict key for weights)."""
        name = self.fresh(f"{self.prefix}.{suffix}" if self.prefix else suffix)
        arr = np.array(array, dtype=dtype, order="C")  # a 0-d scalar stays 0-d
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, suffix: str, values) -> str:
        return self.init(suffix, np.asarray(list(values), np.int64), np.int64)

    def op(self, op_type: str, inputs: list[str], out: str | None = None, n_out: int = 1,
           **attrs) -> Any:
        """Append one node; returns its output name (or the list of them for n_out > 1).
        ``out`` names the (single) output; else names come from the current node id."""
        if out is not None and n_out == 1:
            outs = [out]
            self.names.add(out)
        else:
            outs = [self.fresh(f"{self.prefix}/{op_type}" + (f":{i}" if n_out > 1 else ""))
                    for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=outs[0], **attrs))
        return outs[0] if n_out == 1 else outs

    def value_info(self, name: str, shape: tuple, dtype):
        """A typed value with the batch dim (None) named ``N``."""
        onnx = self.onnx
        elem = onnx.TensorProto.INT64 if np.dtype(dtype) == np.int64 else onnx.TensorProto.FLOAT
        dims = ["N" if d is None else int(d) for d in shape]
        return self.helper.make_tensor_value_info(name, elem, dims)

    def graph_input(self, name: str, shape: tuple, dtype) -> str:
        self.names.add(name)
        self.inputs.append(self.value_info(name, shape, dtype))
        return name


@dataclass
class _Ctx:
    """What a mapping function may read: the node, its engine module and shapes."""

    node: FlatNode
    module: Any
    out_shapes: dict[str, tuple]
    out_name: Callable[[str], str]
    used: frozenset = frozenset()   # the output ports something reads

    @property
    def p(self) -> dict:
        return self.node.params

    def in_shape(self, port: str) -> tuple:
        return tuple(self.node.in_shapes[port])


def _blocks_of(model: GraphModel) -> dict[str, dict]:
    """Every block, nested ones too, by its inlined id (``"inc3a/branch1"``): its type
    and params."""
    out = {}

    def walk(prefix: str, sub) -> None:
        for n in sub.nodes:
            if n.subgraph is not None:
                out[f"{prefix}{n.id}"] = {"type": n.type, "params": _jsonable(n.params)}
                walk(f"{prefix}{n.id}/", n.subgraph)
    for nid in model.nodes():
        sub = model.subgraph(nid)
        if sub is not None:
            out[nid] = {"type": model.spec(nid).type, "params": _jsonable(model.params(nid))}
            walk(f"{nid}/", sub)
    return out


def _jsonable(params: Mapping[str, Any]) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _arr(param) -> np.ndarray:
    return np.asarray(param.data, np.float32)


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


# ------------------------------------------------------------------ layers and activations
#
# One function per node type: (builder, ctx, inputs by port) -> outputs by port.


def _linear(b, c, ins):
    x, m = ins["input"], c.module
    if len(c.in_shape("input")) == 2:
        args = [x, b.init("weight", _arr(m.weight))]
        if m.bias is not None:
            args.append(b.init("bias", _arr(m.bias)))
        return {"output": b.op("Gemm", args, c.out_name("output"), transB=1)}
    y = b.op("MatMul", [x, b.init("weight_t", _arr(m.weight).T)],
             None if m.bias is not None else c.out_name("output"))
    if m.bias is not None:
        y = b.op("Add", [y, b.init("bias", _arr(m.bias))], c.out_name("output"))
    return {"output": y}


def _unary(op_type: str, **fixed):
    def fn(b, c, ins):
        attrs = {k: (v(c.p) if callable(v) else v) for k, v in fixed.items()}
        return {"output": b.op(op_type, [ins["input"]], c.out_name("output"), **attrs)}
    return fn


def _softplus(b, c, ins):
    beta, threshold = c.p["beta"], c.p["threshold"]
    x = ins["input"]
    if beta == 1.0 and threshold >= 20.0:  # log1p(e^20) - 20 < 3e-9: the linear tail is moot
        return {"output": b.op("Softplus", [x], c.out_name("output"))}
    bx = b.op("Mul", [x, b.init("beta", np.float32(beta))])
    soft = b.op("Div", [b.op("Softplus", [bx]), b.init("beta_div", np.float32(beta))])
    above = b.op("Greater", [bx, b.init("threshold", np.float32(threshold))])
    return {"output": b.op("Where", [above, x, soft], c.out_name("output"))}


def _glu(b, c, ins):
    a, g = b.op("Split", [ins["input"]], n_out=2, axis=int(c.p["dim"]), num_outputs=2)
    return {"output": b.op("Mul", [a, b.op("Sigmoid", [g])], c.out_name("output"))}


def _reshape_to(b, c, ins, port="output"):
    """Reshape to the node's inferred output shape, the batch dim left to -1."""
    shape = [-1 if d is None else int(d) for d in c.out_shapes[port]]
    return {port: b.op("Reshape", [ins["input"], b.ints("shape", shape)], c.out_name(port))}


def _flatten(b, c, ins):
    nd = len(c.in_shape("input"))
    if c.p["start_dim"] % nd == 1 and c.p["end_dim"] % nd == nd - 1:
        return {"output": b.op("Flatten", [ins["input"]], c.out_name("output"), axis=1)}
    return _reshape_to(b, c, ins)


def _dropout(b, c, ins):
    """ONNX's Dropout, which is the identity outside training (training_mode unset): the
    model reads as drawn and the rate comes back on import."""
    ratio = b.init("ratio", np.float32(c.p["p"]))
    return {"output": b.op("Dropout", [ins["input"], ratio], c.out_name("output"))}


def _identity(b, c, ins):
    return {"output": b.op("Identity", [ins["input"]], c.out_name("output"))}


def _embedding(b, c, ins):
    w = b.init("weight", _arr(c.module.weight))
    return {"output": b.op("Gather", [w, ins["input"]], c.out_name("output"), axis=0)}


def _binary(op_type: str):
    def fn(b, c, ins):
        return {"output": b.op(op_type, [ins["input"], ins["other"]], c.out_name("output"))}
    return fn


def _scale(b, c, ins):
    return {"output": b.op("Mul", [ins["input"], b.init("scale", np.float32(c.p["scale"]))],
                           c.out_name("output"))}


def _concat(b, c, ins):
    parts = [ins[f"input{i}"] for i in range(4) if f"input{i}" in ins]
    return {"output": b.op("Concat", parts, c.out_name("output"), axis=int(c.p["dim"]))}


def _chunk(b, c, ins):
    shape = c.in_shape("input")
    dim = c.p["dim"] % len(shape)
    size = shape[dim]
    step = -(-size // c.p["chunks"])  # torch.chunk: ceil(size / chunks) each, the last less
    sizes = [min(step, size - s) for s in range(0, size, step)]
    outs = b.op("Split", [ins["input"], b.ints("split", sizes)], n_out=len(sizes), axis=dim)
    outs = [outs] if isinstance(outs, str) else outs
    return {f"out{i}": b.op("Identity", [o], c.out_name(f"out{i}")) for i, o in enumerate(outs)}


def _permute(b, c, ins):
    nd = len(c.in_shape("input"))
    dims = c.p["dims"]
    perm = [int(d) % nd for d in ((dims,) if isinstance(dims, int) else dims)]
    return {"output": b.op("Transpose", [ins["input"]], c.out_name("output"), perm=perm)}


def _mean(b, c, ins):
    nd = len(c.in_shape("input"))
    dim = c.p["dim"]
    axes = [int(d) % nd for d in ((dim,) if isinstance(dim, int) else dim)]
    return {"output": b.op("ReduceMean", [ins["input"], b.ints("axes", axes)],
                           c.out_name("output"), keepdims=int(bool(c.p["keepdim"])))}


# ---------------------------------------------------------------------- convolution, norm


def _conv_attrs(c) -> dict:
    ph, pw = _pair(c.p["padding"])
    return dict(kernel_shape=_pair(c.p["kernel_size"]), strides=_pair(c.p["stride"]),
                pads=[ph, pw, ph, pw], dilations=_pair(c.p["dilation"]),
                group=int(c.p["groups"]))


def _conv2d(b, c, ins):
    m = c.module
    args = [ins["input"], b.init("weight", _arr(m.weight))]
    if m.bias is not None:
        args.append(b.init("bias", _arr(m.bias)))
    return {"output": b.op("Conv", args, c.out_name("output"), **_conv_attrs(c))}


def _conv_transpose2d(b, c, ins):
    m = c.module
    args = [ins["input"], b.init("weight", _arr(m.weight))]
    if m.bias is not None:
        args.append(b.init("bias", _arr(m.bias)))
    return {"output": b.op("ConvTranspose", args, c.out_name("output"), **_conv_attrs(c),
                           output_padding=_pair(c.p["output_padding"]))}


def _pool_attrs(c) -> dict:
    k = _pair(c.p["kernel_size"])
    stride = k if c.p["stride"] is None else _pair(c.p["stride"])
    ph, pw = _pair(c.p["padding"])
    return dict(kernel_shape=k, strides=stride, pads=[ph, pw, ph, pw],
                ceil_mode=int(bool(c.p["ceil_mode"])))


def _maxpool2d(b, c, ins):
    return {"output": b.op("MaxPool", [ins["input"]], c.out_name("output"), **_pool_attrs(c),
                           dilations=_pair(c.p["dilation"]))}


def _avgpool2d(b, c, ins):
    return {"output": b.op("AveragePool", [ins["input"]], c.out_name("output"),
                           **_pool_attrs(c),
                           count_include_pad=int(bool(c.p["count_include_pad"])))}


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size): row i averages input[floor(i*size/out) : ceil((i+1)*size/out)], the
    windows of PyTorch's adaptive average pooling (which is separable in H and W)."""
    m = np.zeros((out, size), np.float32)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_avgpool2d(b, c, ins):
    _, _, h, w = c.in_shape("input")
    oh, ow = _pair(c.p["output_size"])
    if (oh, ow) == (1, 1):
        return {"output": b.op("GlobalAveragePool", [ins["input"]], c.out_name("output"))}
    if h % oh or w % ow:  # uneven windows: y = P_H · x · P_Wᵀ, averaging matrices
        y = b.op("MatMul", [b.init("rows", _adaptive_matrix(h, oh)), ins["input"]])
        return {"output": b.op("MatMul", [y, b.init("cols", _adaptive_matrix(w, ow).T)],
                               c.out_name("output"))}
    k = [h // oh, w // ow]
    return {"output": b.op("AveragePool", [ins["input"]], c.out_name("output"),
                           kernel_shape=k, strides=k)}


def _batchnorm(b, c, ins):
    m = c.module
    if getattr(m, "running_mean", None) is None:
        raise ExportError(f"{c.node.spec.type} '{c.node.name}' has track_running_stats=False: "
                          "it normalises with each batch's own statistics even when "
                          "evaluating, which a deployed model cannot. Set "
                          "track_running_stats=True and train again.")
    n = m.num_features
    scale = _arr(m.weight) if m.weight is not None else np.ones(n, np.float32)
    bias = _arr(m.bias) if m.bias is not None else np.zeros(n, np.float32)
    args = [ins["input"], b.init("weight", scale), b.init("bias", bias),
            b.init("running_mean", _arr(m.running_mean)),
            b.init("running_var", _arr(m.running_var))]
    return {"output": b.op("BatchNormalization", args, c.out_name("output"),
                           epsilon=float(m.eps))}


def _layer_norm_op(b, x, norm, out=None, suffix=""):
    """ONNX LayerNormalization of ``x`` over ``norm.normalized_shape``."""
    shape = tuple(norm.normalized_shape)
    w = getattr(norm, "weight", None)
    scale = _arr(w) if w is not None else np.ones(shape, np.float32)
    args = [x, b.init(f"{suffix}weight", scale)]
    bias = getattr(norm, "bias", None)
    if bias is not None:
        args.append(b.init(f"{suffix}bias", _arr(bias)))
    return b.op("LayerNormalization", args, out, axis=-len(shape), epsilon=float(norm.eps))


def _layernorm(b, c, ins):
    return {"output": _layer_norm_op(b, ins["input"], c.module, c.out_name("output"))}


# ------------------------------------------------------------------------- data, generative


def _shift_right(b, c, ins):
    body = b.op("Slice", [ins["input"], b.ints("starts", [0]), b.ints("ends", [-1]),
                          b.ints("axes", [1])])
    bos = b.init("bos", np.array(c.p["bos"], np.int64), np.int64)
    return {"output": b.op("Pad", [body, b.ints("pads", [0, 1, 0, 0]), bos],
                           c.out_name("output"), mode="constant")}


def _sinusoidal_table(b, c, ins):
    from playground.graph.nodes.attention import sinusoidal_table

    _, length, dim = c.in_shape("input")
    name = c.out_name("output")  # a constant: the table itself is the node's value
    b.names.add(name)
    b.initializers.append(b.onnx.numpy_helper.from_array(sinusoidal_table(length, dim), name))
    return {"output": name}


def _causal_table(length: int, source: int) -> np.ndarray:
    return np.triu(np.full((length, source), -np.inf, np.float32), k=1)


def _causal_mask(b, c, ins):
    length, source = c.in_shape("input")[-2:]
    return {"output": b.op("Add", [ins["input"], b.init("mask", _causal_table(length, source))],
                           c.out_name("output"))}


def _reparameterize(b, c, ins):
    eps = f"{c.node.node_id}.eps"
    b.graph_input(eps, c.in_shape("mu"), np.float32)
    std = b.op("Exp", [b.op("Mul", [ins["logvar"], b.init("half", np.float32(0.5))])])
    return {"z": b.op("Add", [ins["mu"], b.op("Mul", [std, eps])], c.out_name("z"))}


# ------------------------------------------------------------------------------- attention


def _mha(b, q, k, v, m, batch_first: bool, causal: bool, lengths: tuple[int, int],
         out: str | None, average: bool | None, suffix: str = "") -> tuple[str, str | None]:
    """Multi-head attention decomposed (Vaswani et al. 2017, §3.2.2): Q/K/V projections,
    per-head Q Kᵀ/√d (+ causal mask), Softmax, times V, heads concatenated, output
    projection. ``average`` None: no weights output; True: (N, L, S) mean over heads;
    False: (N, h, L, S)."""
    e, h = m.embed_dim, m.num_heads
    d = e // h
    if not batch_first:  # (L, N, E) -> (N, L, E)
        q, k, v = (b.op("Transpose", [t], perm=[1, 0, 2]) for t in (q, k, v))
    if m.in_proj_weight is not None:
        w = _arr(m.in_proj_weight)
        ws = (w[:e], w[e:2 * e], w[2 * e:])
    else:
        ws = (_arr(m.q_proj_weight), _arr(m.k_proj_weight), _arr(m.v_proj_weight))
    bs = np.split(_arr(m.in_proj_bias), 3) if m.in_proj_bias is not None else (None,) * 3
    heads = []
    for name, t, wt, bt, perm in (("q", q, ws[0], bs[0], [0, 2, 1, 3]),
                                  ("k", k, ws[1], bs[1], [0, 2, 3, 1]),
                                  ("v", v, ws[2], bs[2], [0, 2, 1, 3])):
        t = b.op("MatMul", [t, b.init(f"{suffix}{name}_proj_weight_t", wt.T)])
        if bt is not None:
            t = b.op("Add", [t, b.init(f"{suffix}{name}_proj_bias", bt)])
        t = b.op("Reshape", [t, b.ints(f"{suffix}heads_shape", [0, 0, h, d])])
        heads.append(b.op("Transpose", [t], perm=perm))  # (N,h,L,d), (N,h,d,S), (N,h,S,d)
    qh, kt, vh = heads
    scores = b.op("Mul", [b.op("MatMul", [qh, kt]),
                          b.init(f"{suffix}scale", np.float32(1.0 / math.sqrt(d)))])
    if causal:
        scores = b.op("Add", [scores, b.init(f"{suffix}causal_mask", _causal_table(*lengths))])
    attn = b.op("Softmax", [scores], axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [attn, vh])], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, b.ints(f"{suffix}merge_shape", [0, 0, e])])
    y = b.op("MatMul", [ctx, b.init(f"{suffix}out_proj.weight_t", _arr(m.out_proj.weight).T)],
             out if (m.out_proj.bias is None and batch_first) else None)
    if m.out_proj.bias is not None:
        y = b.op("Add", [y, b.init(f"{suffix}out_proj.bias", _arr(m.out_proj.bias))],
                 out if batch_first else None)
    if not batch_first:
        y = b.op("Transpose", [y], out, perm=[1, 0, 2])
    weights = None
    if average is not None:
        weights = b.op("ReduceMean", [attn, b.ints(f"{suffix}head_axis", [1])], keepdims=0) \
            if average else attn
    return y, weights


def _seq_lengths(shape_q, shape_k, batch_first) -> tuple[int, int]:
    return (shape_q[1], shape_k[1]) if batch_first else (shape_q[0], shape_k[0])


def _multihead_attention(b, c, ins):
    bf = c.p["batch_first"]
    want = "attn_weights" in c.used
    y, w = _mha(b, ins["query"], ins["key"], ins["value"], c.module, bf, c.p["is_causal"],
                _seq_lengths(c.in_shape("query"), c.in_shape("key"), bf),
                c.out_name("output"), c.p["average_attn_weights"] if want else None)
    if not want:  # nothing reads the weights: no nodes for them
        return {"output": y}
    return {"output": y, "attn_weights": b.op("Identity", [w], c.out_name("attn_weights"))}


def _sdpa(b, c, ins):
    qs = c.in_shape("query")
    nd = len(qs)
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    scale = c.p["scale"] if c.p["scale"] is not None else 1.0 / math.sqrt(qs[-1])
    scores = b.op("Mul", [b.op("MatMul", [ins["query"], b.op("Transpose", [ins["key"]],
                                                                perm=perm)]),
                          b.init("scale", np.float32(scale))])
    if c.p["is_causal"]:
        scores = b.op("Add", [scores, b.init("causal_mask", _causal_table(
            qs[-2], c.in_shape("key")[-2]))])
    attn = b.op("Softmax", [scores], axis=-1)
    return {"output": b.op("MatMul", [attn, ins["value"]], c.out_name("output"))}


def _feed_forward(b, x, layer, suffix=""):
    h = b.op("MatMul", [x, b.init(f"{suffix}linear1.weight_t", _arr(layer.linear1.weight).T)])
    if layer.linear1.bias is not None:
        h = b.op("Add", [h, b.init(f"{suffix}linear1.bias", _arr(layer.linear1.bias))])
    from playground.engine import functional as F
    if layer.activation is F.relu:
        h = b.op("Relu", [h])
    elif layer.activation is F.gelu:
        h = b.op("Gelu", [h])
    else:  # pragma: no cover - the node offers relu and gelu only
        raise ExportError(f"unsupported feed-forward activation {layer.activation!r}")
    y = b.op("MatMul", [h, b.init(f"{suffix}linear2.weight_t", _arr(layer.linear2.weight).T)])
    if layer.linear2.bias is not None:
        y = b.op("Add", [y, b.init(f"{suffix}linear2.bias", _arr(layer.linear2.bias))])
    return y


def _transformer_encoder_layer(b, c, ins):
    m, bf = c.module, c.p["batch_first"]
    lengths = _seq_lengths(c.in_shape("src"), c.in_shape("src"), bf)

    def sa(t):
        return _mha(b, t, t, t, m.self_attn, bf, c.p["is_causal"], lengths, None, None,
                    "self_attn.")[0]
    x = ins["src"]
    if m.norm_first:
        x = b.op("Add", [x, sa(_layer_norm_op(b, x, m.norm1, suffix="norm1."))])
        y = b.op("Add", [x, _feed_forward(b, _layer_norm_op(b, x, m.norm2, suffix="norm2."),
                                          m)], c.out_name("output"))
    else:
        x = _layer_norm_op(b, b.op("Add", [x, sa(x)]), m.norm1, suffix="norm1.")
        y = _layer_norm_op(b, b.op("Add", [x, _feed_forward(b, x, m)]), m.norm2,
                           c.out_name("output"), suffix="norm2.")
    return {"output": y}


def _transformer_decoder_layer(b, c, ins):
    m, bf = c.module, c.p["batch_first"]
    self_len = _seq_lengths(c.in_shape("tgt"), c.in_shape("tgt"), bf)
    cross_len = _seq_lengths(c.in_shape("tgt"), c.in_shape("memory"), bf)
    mem = ins["memory"]

    def sa(t):
        return _mha(b, t, t, t, m.self_attn, bf, c.p["tgt_is_causal"], self_len, None, None,
                    "self_attn.")[0]

    def ca(t):
        return _mha(b, t, mem, mem, m.multihead_attn, bf, False, cross_len, None, None,
                    "multihead_attn.")[0]
    x = ins["tgt"]
    if m.norm_first:
        x = b.op("Add", [x, sa(_layer_norm_op(b, x, m.norm1, suffix="norm1."))])
        x = b.op("Add", [x, ca(_layer_norm_op(b, x, m.norm2, suffix="norm2."))])
        y = b.op("Add", [x, _feed_forward(b, _layer_norm_op(b, x, m.norm3, suffix="norm3."),
                                          m)], c.out_name("output"))
    else:
        x = _layer_norm_op(b, b.op("Add", [x, sa(x)]), m.norm1, suffix="norm1.")
        x = _layer_norm_op(b, b.op("Add", [x, ca(x)]), m.norm2, suffix="norm2.")
        y = _layer_norm_op(b, b.op("Add", [x, _feed_forward(b, x, m)]), m.norm3,
                           c.out_name("output"), suffix="norm3.")
    return {"output": y}


def _masked_attention(b, c, ins, scores):
    """Softmax over the source (last dim) with the padding of ``src_tokens`` masked out,
    then the context: (weights (N, L, S), context (N, L, D_v)). A row whose every source
    position is padding gets zero weights, as ours."""
    mask = None
    if "src_tokens" in ins and c.p["padding_idx"] is not None:
        pad = b.init("padding_idx", np.array(c.p["padding_idx"], np.int64), np.int64)
        mask = b.op("Unsqueeze", [b.op("Equal", [ins["src_tokens"], pad]),
                                  b.ints("mask_axis", [1])])           # (N, 1, S)
        scores = b.op("Where", [mask, b.init("minus_inf", np.float32(-np.inf)), scores])
    weights = b.op("Softmax", [scores], axis=-1)
    if mask is not None:  # all-padding rows: softmax of -inf is NaN, ours 0
        weights = b.op("Where", [mask, b.init("zero", np.float32(0.0)), weights])
    value = ins.get("value", ins["key"])
    out = {"output": b.op("MatMul", [weights, value], c.out_name("output"))}
    if "attn_weights" in c.used:
        out["attn_weights"] = b.op("Identity", [weights], c.out_name("attn_weights"))
    return out


def _additive_attention(b, c, ins):
    """e_ts = v · tanh(W_q q_t + W_k k_s + b) (Bahdanau et al. 2015): the projections
    broadcast to (N, L, S, A) by Unsqueeze, then MatMul with v (A,) gives (N, L, S)."""
    m = c.module
    qp = b.op("MatMul", [ins["query"], b.init("q_proj_weight_t", _arr(m.q_proj_weight).T)])
    kp = b.op("MatMul", [ins["key"], b.init("k_proj_weight_t", _arr(m.k_proj_weight).T)])
    if m.bias is not None:
        kp = b.op("Add", [kp, b.init("bias", _arr(m.bias))])
    pairs = b.op("Add", [b.op("Unsqueeze", [qp, b.ints("query_axis", [2])]),
                         b.op("Unsqueeze", [kp, b.ints("key_axis", [1])])])
    scores = b.op("MatMul", [b.op("Tanh", [pairs]), b.init("v", _arr(m.v))])
    return _masked_attention(b, c, ins, scores)


def _luong_attention(b, c, ins):
    """e_ts = q_t · k_s, or q_t · (W k_s) for the general score (Luong et al. 2015)."""
    key = ins["key"]
    if c.module.weight is not None:
        key = b.op("MatMul", [key, b.init("weight_t", _arr(c.module.weight).T)])
    scores = b.op("MatMul", [ins["query"], b.op("Transpose", [key], perm=[0, 2, 1])])
    return _masked_attention(b, c, ins, scores)


# ------------------------------------------------------------------------------- recurrent

#: Rows of PyTorch's stacked gate weights, reordered into ONNX's gate order.
_GATE_ORDER = {"LSTM": (0, 3, 1, 2),   # torch (i, f, g, o) -> onnx (i, o, f, c)
               "GRU": (1, 0, 2),       # torch (r, z, n)    -> onnx (z, r, h)
               "RNN": (0,)}


def _gates(w: np.ndarray, kind: str) -> np.ndarray:
    order = _GATE_ORDER[kind]
    parts = np.split(w, len(order), axis=0)
    return np.concatenate([parts[i] for i in order], axis=0)


def _recurrent(b, c, ins):
    """RNN/LSTM/GRU as ONNX's ops, one per layer: W (D, G*H, I), R (D, G*H, H),
    B (D, 2*G*H) with the gates reordered; the output Y (L, D, N, H) is transposed and
    reshaped to PyTorch's (L, N, D*H)."""
    kind, m, p = c.node.spec.type, c.module, c.p
    hidden, layers = p["hidden_size"], p["num_layers"]
    dirs = 2 if p["bidirectional"] else 1
    x = ins["input"]
    if p["batch_first"]:
        x = b.op("Transpose", [x], perm=[1, 0, 2])
    states = {}
    for port in ("h_0", "c_0"):
        if port in ins:  # (num_layers*D, N, H): layer k's slice is [k*D, (k+1)*D)
            states[port] = ins[port]
    h_n, c_n = [], []
    for layer in range(layers):
        w, r, bias = [], [], []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w.append(_gates(_arr(getattr(m, f"weight_ih{sfx}")), kind))
            r.append(_gates(_arr(getattr(m, f"weight_hh{sfx}")), kind))
            if p["bias"]:
                bias.append(np.concatenate([_gates(_arr(getattr(m, f"bias_ih{sfx}")), kind),
                                            _gates(_arr(getattr(m, f"bias_hh{sfx}")), kind)]))
        args = [x, b.init(f"W_l{layer}", np.stack(w)), b.init(f"R_l{layer}", np.stack(r)),
                b.init(f"B_l{layer}", np.stack(bias)) if bias else "", ""]
        for port in ("h_0", "c_0"):
            if kind != "LSTM" and port == "c_0":
                continue
            if port in states:
                args.append(b.op("Slice", [states[port], b.ints(f"{port}_start_l{layer}",
                                                                [layer * dirs]),
                                           b.ints(f"{port}_end_l{layer}", [(layer + 1) * dirs]),
                                           b.ints(f"{port}_axis", [0])]))
            else:
                args.append("")
        while args and args[-1] == "":
            args.pop()
        attrs = dict(hidden_size=hidden, direction="bidirectional" if dirs == 2 else "forward")
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        if kind == "RNN":
            attrs["activations"] = ["Tanh" if p["nonlinearity"] == "tanh" else "Relu"] * dirs
        n_out = 3 if kind == "LSTM" else 2
        outs = b.op(kind, args, n_out=n_out, **attrs)
        y = b.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])     # (L, N, D, H)
        x = b.op("Reshape", [y, b.ints(f"seq_shape_l{layer}", [0, 0, dirs * hidden])])
        h_n.append(outs[1])
        if kind == "LSTM":
            c_n.append(outs[2])
    out = {}
    out["output"] = b.op("Transpose", [x], c.out_name("output"), perm=[1, 0, 2]) \
        if p["batch_first"] else b.op("Identity", [x], c.out_name("output"))
    out["h_n"] = b.op("Concat", h_n, c.out_name("h_n"), axis=0) if len(h_n) > 1 else \
        b.op("Identity", h_n, c.out_name("h_n"))
    if kind == "LSTM":
        out["c_n"] = b.op("Concat", c_n, c.out_name("c_n"), axis=0) if len(c_n) > 1 else \
            b.op("Identity", c_n, c.out_name("c_n"))
    return out


# --------------------------------------------------------------------------------- registry

#: Our node type -> its mapping function. A type not here is refused by name.
MAPPERS: dict[str, Callable] = {
    "Linear": _linear,
    "Embedding": _embedding,
    "Flatten": _flatten,
    "Dropout": _dropout,
    "Identity": _identity,
    "Conv2d": _conv2d,
    "ConvTranspose2d": _conv_transpose2d,
    "MaxPool2d": _maxpool2d,
    "AvgPool2d": _avgpool2d,
    "AdaptiveAvgPool2d": _adaptive_avgpool2d,
    "BatchNorm1d": _batchnorm,
    "BatchNorm2d": _batchnorm,
    "LayerNorm": _layernorm,
    "ReLU": _unary("Relu"),
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "Softmax": _unary("Softmax", axis=lambda p: int(p["dim"])),
    "LogSoftmax": _unary("LogSoftmax", axis=lambda p: int(p["dim"])),
    "LeakyReLU": _unary("LeakyRelu", alpha=lambda p: float(p["negative_slope"])),
    "ELU": _unary("Elu", alpha=lambda p: float(p["alpha"])),
    "GELU": _unary("Gelu", approximate=lambda p: p["approximate"]),
    "GLU": _glu,
    "Softplus": _softplus,
    "Add": _binary("Add"),
    "Subtract": _binary("Sub"),
    "Multiply": _binary("Mul"),
    "MatMul": _binary("MatMul"),
    "Scale": _scale,
    "Concat": _concat,
    "Chunk": _chunk,
    "Reshape": _reshape_to,
    "Permute": _permute,
    "Mean": _mean,
    "ShiftRight": _shift_right,
    "SinusoidalTable": _sinusoidal_table,
    "CausalMask": _causal_mask,
    "Reparameterize": _reparameterize,
    "MultiheadAttention": _multihead_attention,
    "ScaledDotProductAttention": _sdpa,
    "TransformerEncoderLayer": _transformer_encoder_layer,
    "TransformerDecoderLayer": _transformer_decoder_layer,
    "AdditiveAttention": _additive_attention,
    "LuongAttention": _luong_attention,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
}

#: Types that become graph inputs rather than nodes (their own inputs are not followed).
_SOURCES = ("Dataset", "Input", "NoiseSource")


# ------------------------------------------------------------------------------- selection


def _flat_states(states, prefix: str = "") -> dict:
    out = {}
    for nid, st in states.items():
        fid = f"{prefix}{nid}"
        out[fid] = st
        if st.inner:
            out.update(_flat_states(st.inner, f"{fid}/"))
    return out


def _in_part(node_id: str, ids: list[str]) -> bool:
    return any(node_id == i or node_id.startswith(f"{i}/") for i in ids)


def _select(project: Project, flat: list[FlatNode], part: str | None, states: dict):
    """(nodes to emit in order, graph outputs as (node, port) refs)."""
    by_id = {n.node_id: n for n in flat}
    consumers: dict[tuple[str, str], list[str]] = {}
    for n in flat:
        for ref in n.inputs.values():
            consumers.setdefault(tuple(ref), []).append(n.node_id)
    recipe = project.recipe or {}
    if part is not None and recipe.get("type") != "gan":
        raise ExportError(f"part={part!r} is for a GAN project (its generator or "
                          "discriminator); this project trains the whole graph, so leave "
                          "part out.")
    if recipe.get("type") == "gan":
        part = part or "generator"
        if part not in PARTS:
            raise ExportError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        ids = recipe[part]
        members = [n for n in flat if _in_part(n.node_id, ids)]
        inside = {n.node_id for n in members}
        outputs = []
        for n in members:
            for port in n.spec.outputs:
                users = consumers.get((n.node_id, port.name), [])
                if (users and any(u not in inside for u in users)) or \
                        (not users and port is n.spec.outputs[0]):
                    outputs.append((n.node_id, port.name))
        return members, outputs, inside
    losses = [n for n in flat if n.spec.is_loss]
    outputs: list[tuple[str, str]] = []
    if losses:
        for n in losses:
            for ref in n.inputs.values():
                ref = tuple(ref)
                if by_id[ref[0]].spec.type not in ("Dataset", "Input") and ref not in outputs:
                    outputs.append(ref)
    else:
        for n in flat:
            if n.spec.build is not None and n.spec.outputs and \
                    not any((n.node_id, p.name) in consumers for p in n.spec.outputs):
                shapes = states[n.node_id].outputs
                outputs.extend((n.node_id, p.name) for p in n.spec.outputs
                               if shapes.get(p.name) is not None)
    if not outputs:
        raise ExportError("the graph has no model outputs to export: wire a layer's output "
                          "into a loss, or leave a last layer unconnected.")
    need, stack = set(), [r[0] for r in outputs]
    while stack:
        nid = stack.pop()
        if nid in need:
            continue
        need.add(nid)
        if by_id[nid].spec.type not in _SOURCES:
            stack.extend(ref[0] for ref in by_id[nid].inputs.values())
    members = [n for n in flat if n.node_id in need and n.spec.type not in ("Dataset", "Input")]
    return members, outputs, {n.node_id for n in members}


# ---------------------------------------------------------------------------------- export


def build_program(project: Project, weights: Mapping[str, np.ndarray] | None = None,
                  model: GraphModel | None = None) -> Program:
    """The project's graph compiled in eval mode, with ``weights`` (default: the
    project's) loaded into every node whose parameter shapes fit, BatchNorm running
    statistics included (``"<node id>.running_mean"``); without weights, the initial ones a
    new Session draws from the project's seed."""
    model = GraphModel.from_dict(project.graph) if model is None else model
    manual_seed(project.training.seed)  # the weights a new Session would draw
    program = compile(model)
    state = project.weights if weights is None else weights
    if state:
        program.load_matching(state)
        for call in program.calls:  # BatchNorm statistics, when the file keeps them
            if call.module is None:
                continue
            for name, buf in call.module.named_buffers():
                key = f"{call.node_id}.{name}"
                if buf is not None and key in state and np.shape(state[key]) == buf.data.shape:
                    buf.data[...] = state[key]
    return program.eval()


def to_onnx(project: Project, *, weights: Mapping[str, np.ndarray] | None = None,
            program: Program | None = None, part: str | None = None):
    """The project's model as an ``onnx.ModelProto`` (see the module docstring for what is
    exported and where the weights come from).

    Args:
        project: the project (its graph, recipe, seed and weights).
        weights: ``{"<node id>.<param>": array}`` to use instead of ``project.weights``.
        program: a compiled Program of this graph (a Session's ``program``) whose current
            parameters and buffers to export; it is left in the mode it was in.
        part: for a GAN, ``"generator"`` (default) or ``"discriminator"``.

    Raises:
        ExportError: onnx is not installed; the graph has node types with no ONNX mapping
            (one message lists them all); a node's settings have no ONNX equivalent; the
            graph has errors.
    """
    onnx = require_onnx()
    from playground.graph import CompileError

    model = GraphModel.from_dict(project.graph)
    try:
        flat, _ = flatten(model) if not model.errors() else (None, None)
    except Exception as exc:  # pragma: no cover - flatten of a valid graph does not fail
        raise ExportError(str(exc)) from None
    if flat is None:
        errors = model.errors()
        first = next(iter(errors.values()))
        raise ExportError(f"the graph has errors; fix them before exporting: {first}")
    states = _flat_states(model.states())
    members, outputs, inside = _select(project, flat, part, states)
    unsupported = sorted({n.spec.type for n in members
                          if n.spec.type not in MAPPERS and n.spec.type not in _SOURCES})
    if unsupported:
        raise ExportError(f"cannot export to ONNX: no ONNX mapping for node type"
                          f"{'s' if len(unsupported) > 1 else ''} {', '.join(unsupported)}. "
                          "Replace or remove those nodes.")
    was_training = None
    if program is None:
        try:
            program = build_program(project, weights, model)
        except CompileError as exc:
            raise ExportError(str(exc)) from None
    else:
        was_training = any(c.module.training for c in program.calls if c.module is not None)
        program.eval()
    try:
        blocks = {bid: info for bid, info in _blocks_of(model).items()
                  if any(n.node_id.startswith(f"{bid}/") for n in members)}
        return _build(onnx, project, states, flat, members, outputs, inside, program, blocks)
    finally:
        if was_training:
            program.train()


def _build(onnx, project, states, flat, members, outputs, inside, program, blocks=None):
    helper = onnx.helper
    b = _Builder(onnx)
    by_id = {n.node_id: n for n in flat}

    value_info, graph_input = b.value_info, b.graph_input
    def out_name(node_id: str, port: str) -> str:
        return node_id if port == "output" else f"{node_id}.{port}"

    values: dict[tuple[str, str], str] = {}
    used: dict[str, set] = {}
    for node in members:
        for ref in node.inputs.values():
            used.setdefault(ref[0], set()).add(ref[1])
    for ref in outputs:
        used.setdefault(ref[0], set()).add(ref[1])

    def value_of(ref, consumer: FlatNode, port: str) -> str:
        ref = tuple(ref)
        if ref in values:
            return values[ref]
        src = by_id[ref[0]]
        st = states.get(ref[0])
        meta = (st.meta.get(ref[1], {}) if st is not None else {}) or {}
        # token indices, and class labels (a target with num_classes), are int64
        dtype = np.int64 if meta.get("dtype") == "int64" or "num_classes" in meta \
            else np.float32
        if src.spec.type == "Dataset":
            name = ref[1]
        elif src.spec.type == "Input":
            name = src.name
            dtype = np.int64 if src.params.get("dtype") == "int64" else np.float32
        elif src.spec.type == "NoiseSource":  # a GAN generator's noise is the caller's
            name = out_name(*ref)
        else:  # a cut inside the graph: a GAN's discriminator fed samples
            name = "x" if "x" not in b.names else out_name(*ref)
        graph_input(name, consumer.in_shapes[port], dtype)
        values[ref] = name
        return name

    for node in members:
        t = node.spec.type
        b.prefix = node.node_id
        if t == "NoiseSource":
            name = out_name(node.node_id, "output")
            graph_input(name, (None, node.params["dim"]), np.float32)
            values[(node.node_id, "output")] = name
            continue
        ins = {}
        for port, ref in node.inputs.items():
            ref = tuple(ref)
            if ref[0] not in inside or ref not in values:
                ins[port] = value_of(ref, node, port)
            else:
                ins[port] = values[ref]
        st = states.get(node.node_id)
        ctx = _Ctx(node, program.call(node.node_id).module,
                   dict(st.outputs) if st is not None else {},
                   lambda port, nid=node.node_id: out_name(nid, port),
                   frozenset(used.get(node.node_id, ())))
        result = MAPPERS[t](b, ctx, ins)
        for port, name in result.items():
            values[(node.node_id, port)] = name
    b.prefix = ""
    graph_outputs = []
    for ref in outputs:
        st = states[ref[0]]
        graph_outputs.append(value_info(values[ref], st.outputs[ref[1]], np.float32))
    graph = helper.make_graph(b.nodes, project.name or "model", b.inputs, graph_outputs,
                              initializer=b.initializers,
                              doc_string=f"DL Playground project {project.name!r}")
    m = helper.make_model(graph, producer_name="dl-playground",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    if blocks:  # which blocks the nodes came from, so that an import can rebuild them
        helper.set_model_props(m, {BLOCKS_KEY: json.dumps(blocks)})
    return m


def export_onnx(project: Project, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`to_onnx` (same keyword arguments) to ``path`` after
    ``onnx.checker.check_model``; returns the path.

    Raises:
        ExportError: as :func:`to_onnx`, or the file cannot be written.
    """
    onnx = require_onnx()
    proto = to_onnx(project, **kwargs)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - an exporter bug
        raise ExportError(f"the exported model does not pass onnx.checker: {exc}") from None
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc}") from None
    return path


__all__ = ["BLOCKS_KEY", "ExportError", "IR_VERSION", "MAPPERS", "OPSET", "PARTS", "build_program",
           "export_onnx",
           "require_onnx", "to_onnx"]
