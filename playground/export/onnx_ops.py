"""ONNX nodes for our node types: one small mapping function per type (:data:`MAPPERS`),
and the builder they write into.

A mapping function takes ``(builder, ctx, inputs)``: the :class:`_Builder` collecting ONNX
nodes and initializers, the :class:`_Ctx` of the node (its params, engine module and
shapes) and the ONNX value name wired into each input port. It returns the ONNX value name
of each output port. :mod:`.onnx_export` walks the graph and calls them; opset and IR
version are pinned there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from playground.graph.compile import FlatNode

from ._names import distinct


class ExportError(ValueError):
    """The project cannot be exported; the message says why and what to do."""

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
        return distinct(base, self.names)

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


# ------------------------------------------------------------------------------ primitives


def _pow(b, c, ins):
    e = c.p["exponent"]
    return {"output": b.op("Pow", [ins["input"], b.init("exponent", np.float32(e))],
                           c.out_name("output"))}


def _parameter(b, c, ins):
    """The learnable tensor itself, an initializer named as its state-dict key
    (``"w1.weight"``): the importer knows a Parameter by that name."""
    return {"output": b.init("weight", _arr(c.module.weight))}


def _constant(b, c, ins):
    """An ONNX Constant named after the node (a fixed value: not a weight)."""
    value = b.onnx.numpy_helper.from_array(np.array(c.module._data, np.float32))
    return {"output": b.op("Constant", [], c.out_name("output"), value=value)}


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
    "Log": _unary("Log"),
    "Exp": _unary("Exp"),
    "Pow": _pow,
    "Parameter": _parameter,
    "Constant": _constant,
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
