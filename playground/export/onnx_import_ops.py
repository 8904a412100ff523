"""ONNX import, one function per ONNX op (:data:`IMPORTERS`): each turns an ONNX node into
our nodes through the importer (:class:`playground.export.onnx_import._Importer`)."""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------- one per ONNX op


def _gemm(im, node, a):
    w = im.const(node.input[1])
    if w is None or im.const(node.input[0]) is not None or a.get("transA", 0):
        im.fail(node, "only x·Wᵀ + b with a constant weight W is imported (as Linear)")
    if a.get("alpha", 1.0) != 1.0 or (a.get("beta", 1.0) != 1.0 and len(node.input) > 2):
        im.fail(node, "alpha and beta must be 1 to import as Linear")
    w = w if a.get("transB", 0) else w.T
    weights = {"weight": w}
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if bias is not None:
        bias = np.broadcast_to(bias, (w.shape[0],))
        weights["bias"] = bias
    im.add(node, "Linear", {"in_features": int(w.shape[1]), "out_features": int(w.shape[0]),
                            "bias": bias is not None}, {"input": node.input[0]}, weights)


def _matmul(im, node, a):
    rows = im.const(node.input[0])
    shape = im.shape(node.input[1]) or ()
    if rows is not None and rows.ndim == 2 and len(shape) == 4:  # P_H · x: adaptive pool?
        im.adaptive[node.output[0]] = (node.input[1], rows)
        return
    if node.input[0] in im.adaptive:
        _adaptive_pool(im, node)
        return
    w = None if im.is_tensor_node(node.input[1]) else im.const(node.input[1])
    if w is not None and w.ndim == 2 and im.const(node.input[0]) is None:
        rec = im.add(node, "Linear", {"in_features": int(w.shape[0]),
                                      "out_features": int(w.shape[1]), "bias": False},
                     {"input": node.input[0]}, {"weight": w.T})
        im.fusable[node.output[0]] = rec
        return
    im.add(node, "MatMul", {}, {"input": node.input[0], "other": node.input[1]})


def _adaptive_pool(im, node):
    """``MatMul(MatMul(P_H, x), P_Wᵀ)`` with PyTorch's adaptive averaging matrices (as our
    exporter writes an AdaptiveAvgPool2d of uneven windows) -> AdaptiveAvgPool2d."""
    from .onnx_ops import _adaptive_matrix

    src, rows = im.adaptive.pop(node.input[0])
    cols = im.const(node.input[1])
    shape = im.shape(src)
    if cols is None or cols.ndim != 2 or shape is None or None in shape[2:]:
        im.fail(node, "a product with a constant matrix on the left is imported only as "
                      "an adaptive average pool (P_H · x · P_Wᵀ)")
    (oh, h), (w, ow) = rows.shape, cols.shape
    if (h, w) != tuple(shape[2:]) or not (
            np.allclose(rows, _adaptive_matrix(h, oh), atol=1e-7) and
            np.allclose(cols, _adaptive_matrix(w, ow).T, atol=1e-7)):
        im.fail(node, "its constant matrices are not adaptive average pooling's")
    im.add(node, "AdaptiveAvgPool2d", {"output_size": [int(oh), int(ow)]}, {"input": src})


def _binary(type_: str):
    def fn(im, node, a):
        x, y = node.input
        # a Parameter's or our Constant's value is wired in as that node, not folded
        cx, cy = (None if im.is_tensor_node(v) else im.const(v) for v in (x, y))
        if type_ == "Add" and (cx is not None or cy is not None):
            value, bias = (y, cx) if cx is not None else (x, cy)
            rec = im.fusable.get(value)
            if rec is not None and im.uses.get(value) == 1 and bias.size == \
                    rec["params"]["out_features"] and bias.squeeze().ndim <= 1:
                rec["params"]["bias"] = True  # MatMul + Add: one Linear
                im.weights[f"{rec['id']}.bias"] = bias.reshape(-1).astype(np.float32)
                im.refs[node.output[0]] = im.refs[value]
                return
        if type_ == "Add" and (cx is not None or cy is not None) and \
                _constant_add(im, node, *((y, cx, x) if cx is not None else (x, cy, y))):
            return
        if type_ in ("Mul", "Div") and (cx is not None or cy is not None):
            value, c = (y, cx) if cx is not None else (x, cy)
            if c.size == 1 and not (type_ == "Div" and cx is not None):
                scale = float(c.reshape(()))
                im.add(node, "Scale", {"scale": 1.0 / scale if type_ == "Div" else scale},
                       {"input": value})
                return
        if (cx is not None and not im.uniform(x)) or (cy is not None and not im.uniform(y)):
            im.fail(node, "one input is a constant tensor; only a Linear's bias (after "
                          "MatMul), a scalar factor, a tensor of one value (as Constant) "
                          "or a learnable weight named '<node>.weight' (as Parameter) is "
                          "imported")
        if type_ == "Div":
            im.fail(node, "only a division by a constant scalar is imported (as Scale)")
        ours = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply"}[type_]
        im.add(node, ours, {}, {"input": x, "other": y})
    return fn


def _constant_add(im, node, value: str, c: np.ndarray, const_name: str) -> bool:
    """Add of a constant our nodes make themselves: a causal mask (-inf above the
    diagonal) becomes CausalMask, the sinusoidal positional table SinusoidalTable + Add."""
    from playground.graph.nodes.attention import sinusoidal_table

    shape = im.shape(value)
    if shape is None or c.ndim < 2 or c.size != c.shape[-1] * c.shape[-2]:
        return False
    table = c.reshape(c.shape[-2:])
    if tuple(shape[-2:]) != table.shape:
        return False
    mask = np.triu(np.full(table.shape, -np.inf, np.float32), k=1)
    if np.array_equal(table, mask) and len(shape) >= 3:
        im.add(node, "CausalMask", {}, {"input": value})
        return True
    if len(shape) == 3 and np.allclose(table, sinusoidal_table(*table.shape), atol=1e-6):
        made = f"{node.output[0]}:table"
        rec = im.add(node, "SinusoidalTable", {}, {"input": value}, outputs={"output": made},
                     hint=const_name)
        im.origin[rec["id"]] = const_name  # our exporter names the table after its node
        im.add(node, "Add", {}, {"input": value, "other": made})
        return True
    return False


def _unary(type_: str, **params):
    def fn(im, node, a):
        values = {k: (v(a) if callable(v) else v) for k, v in params.items()}
        im.add(node, type_, values, {"input": node.input[0]})
    return fn


def _softmax(type_: str):
    def fn(im, node, a):
        im.add(node, type_, {"dim": int(a.get("axis", -1))}, {"input": node.input[0]})
    return fn


def _pads(im, node, a) -> list[int]:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        im.fail(node, f"auto_pad={a['auto_pad']!r} is not imported; export with explicit pads")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or pads[:2] != pads[2:]:
        im.fail(node, f"pads {pads} are not a symmetric 2-D padding (top=bottom, "
                      "left=right), which is what Conv2d and the pools take")
    return pads[:2]


def _conv(im, node, a):
    w = im.const(node.input[1])
    if w is None or w.ndim != 4:
        im.fail(node, "only 2-D convolutions with a constant weight are imported")
    group = int(a.get("group", 1))
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    im.add(node, "Conv2d", {"in_channels": int(w.shape[1] * group),
                            "out_channels": int(w.shape[0]),
                            "kernel_size": list(a.get("kernel_shape", w.shape[2:])),
                            "stride": list(a.get("strides", [1, 1])),
                            "padding": _pads(im, node, a),
                            "dilation": list(a.get("dilations", [1, 1])), "groups": group,
                            "bias": bias is not None}, {"input": node.input[0]}, weights)


def _conv_transpose(im, node, a):
    w = im.const(node.input[1])
    if w is None or w.ndim != 4 or "output_shape" in a:
        im.fail(node, "only 2-D transposed convolutions with a constant weight and no "
                      "output_shape are imported")
    group = int(a.get("group", 1))
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    im.add(node, "ConvTranspose2d", {
        "in_channels": int(w.shape[0]), "out_channels": int(w.shape[1] * group),
        "kernel_size": list(a.get("kernel_shape", w.shape[2:])),
        "stride": list(a.get("strides", [1, 1])), "padding": _pads(im, node, a),
        "output_padding": list(a.get("output_padding", [0, 0])), "groups": group,
        "dilation": list(a.get("dilations", [1, 1])), "bias": bias is not None},
        {"input": node.input[0]}, weights)


def _maxpool(im, node, a):
    if len(node.output) > 1 and node.output[1]:
        im.fail(node, "the Indices output is not imported")
    k = list(a["kernel_shape"])
    im.add(node, "MaxPool2d", {"kernel_size": k, "stride": list(a.get("strides", [1, 1])),
                               "padding": _pads(im, node, a),
                               "dilation": list(a.get("dilations", [1, 1])),
                               "ceil_mode": bool(a.get("ceil_mode", 0))},
           {"input": node.input[0]})


def _avgpool(im, node, a):
    im.add(node, "AvgPool2d", {"kernel_size": list(a["kernel_shape"]),
                               "stride": list(a.get("strides", [1, 1])),
                               "padding": _pads(im, node, a),
                               "ceil_mode": bool(a.get("ceil_mode", 0)),
                               "count_include_pad": bool(a.get("count_include_pad", 0))},
           {"input": node.input[0]})


def _global_avgpool(im, node, a):
    im.add(node, "AdaptiveAvgPool2d", {"output_size": 1}, {"input": node.input[0]})


def _batchnorm(im, node, a):
    if a.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        im.fail(node, "training-mode batch norm (with running-stat outputs) is not imported; "
                      "export the model in eval mode")
    scale, bias, mean, var = (im.const(v) for v in node.input[1:5])
    if any(t is None for t in (scale, bias, mean, var)):
        im.fail(node, "scale, B, mean and var must be constants")
    rank = len(im.shape(node.input[0]) or ())
    if rank not in (2, 3, 4):
        im.fail(node, f"input rank {rank or 'unknown'}; BatchNorm1d takes (N, C) or (N, C, L), "
                      "BatchNorm2d (N, C, H, W)")
    im.add(node, "BatchNorm2d" if rank == 4 else "BatchNorm1d",
           {"num_features": int(scale.size), "eps": float(a.get("epsilon", 1e-5)),
            "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)},
           {"input": node.input[0]},
           {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var})


def _layernorm(im, node, a):
    shape = im.shape(node.input[0])
    scale = im.const(node.input[1])
    if shape is None or scale is None:
        im.fail(node, "needs a known input shape and a constant scale")
    axis = int(a.get("axis", -1)) % len(shape)
    normalized = [int(d) for d in shape[axis:]]
    bias = im.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    weights = {"weight": scale.reshape(normalized)}
    if bias is not None:
        weights["bias"] = bias.reshape(normalized)
    im.add(node, "LayerNorm", {"normalized_shape": normalized,
                               "eps": float(a.get("epsilon", 1e-5)), "bias": bias is not None},
           {"input": node.input[0]}, weights)


def _flatten(im, node, a):
    axis = int(a.get("axis", 1))
    rank = len(im.shape(node.input[0]) or ())
    if rank:
        axis %= rank
    if axis < 1:
        im.fail(node, "axis 0 would merge the batch; only axis ≥ 1 is imported")
    im.add(node, "Flatten", {"start_dim": axis, "end_dim": -1}, {"input": node.input[0]})


def _reshape(im, node, a):
    seq = im.sequences.get(node.input[0])
    if seq is not None and seq[2] == "transposed":  # (L, N, D, H) -> (L, N, D*H)
        im.refs[node.output[0]] = (seq[0], "output")
        return
    target = im.const(node.input[1])
    if target is None:
        im.fail(node, "the new shape is computed (Shape, Gather, Concat...); only a constant "
                      "shape is imported. Use nn.Flatten or export with constant folding.")
    out = im.shape(node.output[0])
    if out is None or len(out) < 2 or None in out[1:]:
        im.fail(node, f"its output shape {out} is not (N, fixed sizes)")
    im.add(node, "Reshape", {"shape": [int(d) for d in out[1:]]}, {"input": node.input[0]})


def _transpose(im, node, a):
    rank = len(im.shape(node.input[0]) or ())
    perm = list(a.get("perm", range(rank - 1, -1, -1)))
    seq = im.sequences.get(node.input[0])
    if seq is not None and perm == [0, 2, 1, 3] and seq[2] == "raw":
        im.sequences[node.output[0]] = (seq[0], seq[1], "transposed")
        return
    im.add(node, "Permute", {"dims": [int(p) for p in perm]}, {"input": node.input[0]})


def _identity(im, node, a):
    if im.is_tensor_node(node.input[0]):  # a Parameter as a graph output: that node
        im.refs[node.output[0]] = im.ref(node, node.input[0])
        return
    if node.input[0] in im.consts:  # a named constant
        im.consts[node.output[0]] = im.consts[node.input[0]]
        return
    im.add(node, "Identity", {}, {"input": node.input[0]})


def _dropout(im, node, a):
    ratio = im.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    p = float(ratio.reshape(-1)[0]) if ratio is not None else float(a.get("ratio", 0.5))
    im.add(node, "Dropout", {"p": p}, {"input": node.input[0]},
           outputs={"output": node.output[0]})


def _concat(im, node, a):
    if any(v in im.symbolic for v in node.input) and \
            all(v in im.symbolic or v in im.consts for v in node.input):
        im.symbolic.add(node.output[0])
        return
    if len(node.input) > 4:
        im.fail(node, f"{len(node.input)} inputs; Concat takes at most 4 (chain two)")
    im.add(node, "Concat", {"dim": int(a["axis"])},
           {f"input{i}": v for i, v in enumerate(node.input)})


def _gather(im, node, a):
    if node.input[0] in im.symbolic:
        im.symbolic.add(node.output[0])
        return
    table = im.const(node.input[0])
    if table is None or table.ndim != 2 or int(a.get("axis", 0)) != 0:
        im.fail(node, "only a lookup in a constant (num_embeddings, embedding_dim) table is "
                      "imported (as Embedding)")
    im.add(node, "Embedding", {"num_embeddings": int(table.shape[0]),
                               "embedding_dim": int(table.shape[1])},
           {"input": node.input[1]}, {"weight": table})


def _reduce_mean(im, node, a):
    axes = im.const(node.input[1]) if len(node.input) > 1 and node.input[1] else \
        a.get("axes")
    if axes is None:
        im.fail(node, "a mean over every dim (no axes) would merge the batch")
    axes = [int(v) for v in np.asarray(axes).reshape(-1)]
    im.add(node, "Mean", {"dim": axes[0] if len(axes) == 1 else axes,
                          "keepdim": bool(a.get("keepdims", 1))}, {"input": node.input[0]})


def _constant(im, node, a):
    from onnx import numpy_helper

    if "value" not in a:
        im.fail(node, "only a tensor 'value' constant is imported")
    im.consts[node.output[0]] = numpy_helper.to_array(a["value"])


def _shape(im, node, a):
    im.symbolic.add(node.output[0])


def _shape_op(op_type: str):
    """Unsqueeze, Squeeze, Slice, Cast: followed through shape computations and zero
    states (and Squeeze of a recurrent op's Y); nothing else."""
    def fn(im, node, a):
        first, rest = node.input[0], [v for v in node.input[1:] if v]
        if rest and not all(v in im.consts for v in rest):
            im.fail(node, "only constant axes, starts and ends are imported")
        if first in im.symbolic or first in im.consts:  # shape arithmetic
            im.symbolic.add(node.output[0])
            return
        if first in im.zeros and op_type in ("Slice", "Cast", "Unsqueeze", "Squeeze"):
            im.zeros.add(node.output[0])
            return
        seq = im.sequences.get(first)
        if seq is not None and op_type == "Squeeze" and seq[1] == 1:
            axes = im.consts.get(node.input[1]) if len(node.input) > 1 else a.get("axes")
            if axes is not None and [int(v) for v in np.asarray(axes).reshape(-1)] == [1]:
                im.refs[node.output[0]] = (seq[0], "output")
                return
        im.fail(node, f"{op_type} of a tensor is imported only inside shape computations "
                      "and recurrent states")
    return fn


def _constant_of_shape(im, node, a):
    from onnx import numpy_helper

    value = numpy_helper.to_array(a["value"]).reshape(-1) if "value" in a else np.zeros(1)
    if node.input[0] in im.consts:
        im.consts[node.output[0]] = np.full(im.consts[node.input[0]].astype(np.int64),
                                            value[0], value.dtype)
    elif node.input[0] in im.symbolic and float(value[0]) == 0.0:
        im.zeros.add(node.output[0])
    else:
        im.fail(node, "only zeros of a computed shape (a default recurrent state) are "
                      "imported")


#: ONNX's gate order -> PyTorch's: LSTM (i, o, f, c) -> (i, f, g, o); GRU (z, r, h) ->
#: (r, z, n). The inverses of the exporter's reorderings.
_TORCH_GATES = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}


def _torch_gates(w: np.ndarray, kind: str) -> np.ndarray:
    order = _TORCH_GATES[kind]
    parts = np.split(w, len(order), axis=0)
    return np.concatenate([parts[i] for i in order], axis=0)


def _recurrent(im, node, a):
    """ONNX's RNN, GRU (linear_before_reset=1) and LSTM (no peepholes) as ours, one
    layer each; ``initial_h``/``initial_c`` wired to h_0/c_0 unless they are zeros."""
    kind = node.op_type
    ins = list(node.input) + [""] * (8 - len(node.input))
    w, r = im.const(ins[1]), im.const(ins[2])
    bias = im.const(ins[3]) if ins[3] else None
    if w is None or r is None or (ins[3] and bias is None):
        im.fail(node, "W, R and B must be constants")
    if ins[4]:
        im.fail(node, "sequence_lens (variable-length sequences) is not imported")
    if kind == "LSTM" and ins[7]:
        im.fail(node, "peephole weights P have no PyTorch equivalent")
    if a.get("layout", 0) or "clip" in a or a.get("input_forget", 0):
        im.fail(node, "layout=1, clip and input_forget are not imported")
    if kind == "GRU" and not a.get("linear_before_reset", 0):
        im.fail(node, "linear_before_reset=0 is not PyTorch's GRU (which applies the reset "
                      "gate after the hidden linear); only linear_before_reset=1 is imported")
    dirs = int(w.shape[0])
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction == "reverse":
        im.fail(node, "direction=reverse alone has no PyTorch equivalent")
    hidden = int(a["hidden_size"])
    params = {"input_size": int(w.shape[2]), "hidden_size": hidden, "num_layers": 1,
              "bias": bias is not None, "batch_first": False, "bidirectional": dirs == 2}
    if kind == "RNN":
        acts = [v.decode() if isinstance(v, bytes) else v
                for v in a.get("activations", ["Tanh"] * dirs)]
        if len(set(acts)) != 1 or acts[0] not in ("Tanh", "Relu"):
            im.fail(node, f"activations {acts}: PyTorch's RNN takes tanh or relu")
        params["nonlinearity"] = acts[0].lower()
    weights = {}
    g = w.shape[1]
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        weights[f"weight_ih{sfx}"] = _torch_gates(w[d], kind)
        weights[f"weight_hh{sfx}"] = _torch_gates(r[d], kind)
        if bias is not None:
            weights[f"bias_ih{sfx}"] = _torch_gates(bias[d][:g], kind)
            weights[f"bias_hh{sfx}"] = _torch_gates(bias[d][g:], kind)
    inputs = {"input": ins[0]}
    for port, value in (("h_0", ins[5]), ("c_0", ins[6] if kind == "LSTM" else "")):
        if value and value not in im.zeros:
            inputs[port] = value
    outs = list(node.output) + [""] * 3
    outputs = {"h_n": outs[1]} if outs[1] else {}
    if kind == "LSTM" and outs[2]:
        outputs["c_n"] = outs[2]
    rec = im.add(node, kind, params, inputs, weights, outputs=outputs)
    if outs[0]:
        im.sequences[outs[0]] = (rec["id"], dirs, "raw")


def _pow(im, node, a):
    e = im.const(node.input[1])
    if e is None or e.size != 1:
        im.fail(node, "only a constant scalar exponent is imported (as Pow)")
    im.add(node, "Pow", {"exponent": float(e.reshape(()))}, {"input": node.input[0]})


def _gelu(a):
    approx = a.get("approximate", "none")
    return approx.decode() if isinstance(approx, bytes) else approx


#: ONNX op -> the function that adds our node for it.
IMPORTERS = {
    "Gemm": _gemm, "MatMul": _matmul, "Add": _binary("Add"), "Sub": _binary("Sub"),
    "Mul": _binary("Mul"), "Div": _binary("Div"), "Conv": _conv,
    "ConvTranspose": _conv_transpose, "MaxPool": _maxpool, "AveragePool": _avgpool,
    "GlobalAveragePool": _global_avgpool, "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm, "Flatten": _flatten, "Reshape": _reshape,
    "Transpose": _transpose, "Identity": _identity, "Dropout": _dropout, "Concat": _concat,
    "Gather": _gather, "ReduceMean": _reduce_mean, "Constant": _constant,
    "Log": _unary("Log"), "Exp": _unary("Exp"), "Pow": _pow,
    "Relu": _unary("ReLU"), "Tanh": _unary("Tanh"), "Sigmoid": _unary("Sigmoid"),
    "LeakyRelu": _unary("LeakyReLU", negative_slope=lambda a: float(a.get("alpha", 0.01))),
    "Elu": _unary("ELU", alpha=lambda a: float(a.get("alpha", 1.0))),
    "Gelu": _unary("GELU", approximate=_gelu), "Softplus": _unary("Softplus"),
    "Softmax": _softmax("Softmax"), "LogSoftmax": _softmax("LogSoftmax"),
    "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent,
    "Shape": _shape, "ConstantOfShape": _constant_of_shape, "Unsqueeze": _shape_op("Unsqueeze"),
    "Squeeze": _shape_op("Squeeze"), "Slice": _shape_op("Slice"), "Cast": _shape_op("Cast"),
}
