"""ONNX import: our nodes that the exporter wrote as several ONNX ops come back whole.

ShiftRight (Slice + Pad), the attention nodes (MultiheadAttention, the Transformer layers,
scaled dot-product, Bahdanau's and Luong's attention with their padding masks), RNN/LSTM/
GRU of several layers or ``batch_first`` (one ONNX op per layer, Transposes around them),
GLU, Chunk and Softplus have no one-to-one ONNX op; and a few single ops lose a param (a
Flatten of inner dims is a Reshape, a Reshape's -1 is a size, an adaptive pool of even
windows an AveragePool, a BatchNorm without affine weights has ones and zeros). The
exporter lists each in the model's metadata (:data:`NODES_KEY`: its type, params and the
ONNX values wired to its ports), and the importer puts it back only when **our exporter,
run on the rebuilt node, writes exactly the ONNX nodes and initializers the file has** for
it (same ops, wires, attributes and values). Anything else (an edited file, a model from
another tool) is imported op by op.

The weights are read back without a per-type inverse: every weight the node's module has
is first filled with a distinct probe number, the node is exported, and where each probe
number lands in the initializers says which file value is which weight (the exporter only
transposes, splits, concatenates and reorders them).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: Model metadata key: ``{node id: {"type", "params", "inputs": {port: value},
#: "outputs": {port: value}, "used": [ports], "in_shapes": {port: [dims]}}}``.
NODES_KEY = "dl_playground.nodes"
#: The same as :data:`playground.export.onnx_export.DATA_KEY` (which imports this module).
DATA_KEY = "dl_playground.data"

#: Node types the exporter writes as several ONNX ops (or as ops the importer reads
#: otherwise), listed in NODES_KEY so that an import can rebuild them.
REBUILT_TYPES = frozenset({
    "ShiftRight", "MultiheadAttention", "ScaledDotProductAttention",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "AdditiveAttention",
    "LuongAttention", "RNN", "LSTM", "GRU", "GLU", "Chunk", "Softplus",
    "Flatten", "Reshape", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d"})

#: Probe numbers start here: exact in float32 (below 2**24) and far from any constant the
#: exporter writes (scales, masks, ones).
_PROBE_BASE = 4_000_000
_PROBE_MAX = 2 ** 24 - _PROBE_BASE


def record(node, inputs: dict[str, str], outputs: dict[str, str], used, in_shapes) -> dict:
    """The NODES_KEY entry of one exported node (see :data:`NODES_KEY`)."""
    return {"type": node.spec.type,
            "params": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in node.params.items()},
            "inputs": dict(inputs), "outputs": dict(outputs), "used": sorted(used),
            "in_shapes": {p: [None if d is None else int(d) for d in s]
                          for p, s in in_shapes.items()}}


# ------------------------------------------------------------------------------- export


def _mini(info: dict, dtypes: dict[str, str], data: dict | None):
    """(FlatNode, engine module, output shapes) of the node alone, fed by Input nodes of
    its recorded input shapes (a port of class indices, ShiftRight's, by the ``data``
    node's target); raises ValueError when it does not build."""
    from playground.graph import REGISTRY, GraphModel, compile
    from playground.graph.compile import flatten

    nodes = [{"id": "node", "type": info["type"], "name": "node", "params": info["params"],
              "pos": [0, 0]}]
    edges = []
    kinds = {p.name: p.kind for p in REGISTRY[info["type"]].inputs}
    for port, shape in info["in_shapes"].items():
        if shape.count(None) != 1:
            raise ValueError(f"input {port} shape {shape} has no one batch dim N")
        src = (f"in_{port}", "output")
        if kinds.get(port) == "index":  # class indices: a Dataset's target
            if not data or data.get("type") != "Dataset":
                raise ValueError("class indices come from a Dataset node only")
            if not any(n["id"] == "in_data" for n in nodes):
                nodes.append({"id": "in_data", "type": "Dataset", "name": "in_data",
                              "params": data["params"], "pos": [0, 0]})
            src = ("in_data", "target")
        else:
            k = shape.index(None)
            nodes.append({"id": src[0], "type": "Input", "name": src[0],
                          "params": {"shape": shape[:k] + shape[k + 1:],
                                     "dtype": dtypes.get(port, "float32")}, "pos": [0, 0]})
            if k:  # N not first (h_0 is (layers*D, N, H)): a Permute puts it in place
                perm = list(range(1, k + 1)) + [0] + list(range(k + 1, len(shape)))
                nodes.append({"id": f"perm_{port}", "type": "Permute", "name": f"perm_{port}",
                              "params": {"dims": perm}, "pos": [0, 0]})
                edges.append({"src": src[0], "src_port": "output", "dst": f"perm_{port}",
                              "dst_port": "input"})
                src = (f"perm_{port}", "output")
        edges.append({"src": src[0], "src_port": src[1], "dst": "node", "dst_port": port})
    model = GraphModel.from_dict({"nodes": nodes, "edges": edges})
    if model.errors():
        raise ValueError(next(iter(model.errors().values())))
    flat, _ = flatten(model)
    (fnode,) = [n for n in flat if n.node_id == "node"]
    program = compile(model).eval()
    return fnode, program.call("node").module, dict(model.states()["node"].outputs)


def _export(onnx, node_id: str, info: dict, fnode, module, out_shapes):
    """(ONNX nodes, {initializer name: array}) our exporter writes for the node."""
    from .onnx_ops import MAPPERS, _Builder, _Ctx

    b = _Builder(onnx)
    b.names |= set(info["inputs"].values())
    b.prefix = node_id
    outputs = info["outputs"]
    ctx = _Ctx(fnode, module, out_shapes,
               lambda port: outputs.get(port, node_id if port == "output" else
                                        f"{node_id}.{port}"),
               frozenset(info["used"]))
    result = MAPPERS[info["type"]](b, ctx, dict(info["inputs"]))
    if result != outputs:
        raise ValueError(f"outputs {result} are not the recorded {outputs}")
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in b.initializers}
    return b.nodes, inits


def _signature(onnx, nodes) -> list:
    out = []
    for n in nodes:
        attrs = []
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, onnx.TensorProto):
                v = onnx.numpy_helper.to_array(v).tobytes()
            elif isinstance(v, list):
                v = tuple(v)
            attrs.append((a.name, v))
        out.append((n.op_type, tuple(n.input), tuple(n.output), tuple(sorted(attrs))))
    return out


def _weights_from_file(onnx, node_id, info, fnode, module, out_shapes, file_inits):
    """``{param or buffer name: array}`` of the module read from the file's initializers
    by the probe export (see the module docstring); raises ValueError when a weight does
    not appear in them."""
    tensors = [(k, p) for k, p in list(module.named_parameters()) +
               list(module.named_buffers()) if p is not None and p.data.dtype.kind == "f"]
    total = sum(p.data.size for _, p in tensors)
    if total >= _PROBE_MAX:
        raise ValueError("too many weights to probe")
    saved = [p.data.copy() for _, p in tensors]
    start = 0
    for _, p in tensors:
        p.data[...] = (_PROBE_BASE + start + np.arange(p.data.size)).reshape(p.data.shape)
        start += p.data.size
    try:
        _, inits = _export(onnx, node_id, info, fnode, module, out_shapes)
    finally:
        for (_, p), s in zip(tensors, saved):
            p.data[...] = s
    flat = np.full(total, np.nan, np.float64)
    for name, probe in inits.items():
        if probe.dtype != np.float32:
            continue
        idx = probe.astype(np.float64).reshape(-1) - _PROBE_BASE
        hit = (idx >= 0) & (idx < total) & (idx == np.round(idx))
        if not hit.any():
            continue
        if name not in file_inits or file_inits[name].shape != probe.shape:
            raise ValueError(f"initializer {name} is missing or of another shape")
        flat[idx[hit].astype(np.int64)] = file_inits[name].reshape(-1)[hit]
    if np.isnan(flat).any():
        raise ValueError("a weight is not in the file")
    out, start = {}, 0
    for name, p in tensors:
        out[name] = flat[start:start + p.data.size].reshape(p.data.shape).astype(np.float32)
        start += p.data.size
    return out


# ------------------------------------------------------------------------------- import


def _group(graph, node_id: str, info: dict) -> list[int] | None:
    """Indices of the ONNX nodes the exporter wrote for ``node_id`` (named
    ``"<id>/<op>"`` or after its outputs), if they are contiguous."""
    outs = set(info["outputs"].values())
    idx = [k for k, n in enumerate(graph.node)
           if n.name.startswith(f"{node_id}/") or n.name in outs]
    if not idx or idx != list(range(idx[0], idx[-1] + 1)):
        return None
    return idx


def rebuild(im, model) -> dict[int, dict]:
    """The recorded nodes whose ONNX nodes are exactly what our exporter writes for them:
    ``{index of their first ONNX node: {"id", "type", "params", "inputs", "outputs",
    "weights", "skip": [indices]}}``. Nodes that do not match are left to the op-by-op
    import."""
    onnx = im.onnx
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        recorded = json.loads(meta.get(NODES_KEY, "{}"))
    except ValueError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    graph = model.graph
    file_inits = {k: v for k, v in im.consts.items() if k in im.graph_initializers}
    out: dict[int, dict] = {}
    for node_id, info in recorded.items():
        try:
            found = _match(onnx, im, graph, node_id, info, file_inits)
        except Exception:  # noqa: BLE001 - metadata that does not rebuild: op by op
            found = None
        if found is not None:
            out[found["skip"][0]] = found
    return out


def _match(onnx, im, graph, node_id: str, info: Any, file_inits) -> dict | None:
    from playground.graph import REGISTRY

    if not isinstance(info, dict) or info.get("type") not in REBUILT_TYPES or \
            info["type"] not in REGISTRY:
        return None
    idx = _group(graph, node_id, info)
    if idx is None:
        return None
    dtypes = {port: ("int64" if im.elem_types.get(v) in (onnx.TensorProto.INT64,
                                                         onnx.TensorProto.INT32)
                     else "float32") for port, v in info["inputs"].items()}
    try:
        data = json.loads({p.key: p.value for p in im.model.metadata_props}[DATA_KEY])
    except (KeyError, ValueError):
        data = None
    fnode, module, out_shapes = _mini(info, dtypes, data if isinstance(data, dict) else None)
    if any(tuple(fnode.in_shapes[p]) != tuple(s) for p, s in info["in_shapes"].items()):
        return None
    weights = _weights_from_file(onnx, node_id, info, fnode, module, out_shapes, file_inits)
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if name in weights:  # a counter (BatchNorm's num_batches_tracked) is not exported
            p.data[...] = weights[name]
    nodes, inits = _export(onnx, node_id, info, fnode, module, out_shapes)
    mine = [graph.node[k] for k in idx]
    if _signature(onnx, nodes) != _signature(onnx, mine):
        return None
    for name, arr in inits.items():
        theirs = file_inits.get(name)
        if theirs is None or theirs.shape != arr.shape or theirs.dtype != arr.dtype or \
                not np.array_equal(theirs, arr):
            return None
    made = {o for n in mine for o in n.output}
    outputs = set(info["outputs"].values())
    for k, n in enumerate(graph.node):  # nothing outside reads the node's insides
        if k not in idx and any(v in made and v not in outputs for v in n.input):
            return None
    if any(o.name in made and o.name not in outputs for o in graph.output):
        return None
    params = REGISTRY[info["type"]].validate_params(info["params"])
    return {"id": node_id, "type": info["type"], "params": dict(info["params"]),
            "validated": params, "inputs": dict(info["inputs"]),
            "outputs": dict(info["outputs"]), "weights": weights, "skip": idx}
