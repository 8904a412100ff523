"""An ONNX model into a project: the ops we have become nodes, with their weights.

``import_onnx(path)`` reads the file (protobuf only: nothing in it is ever executed, and
weights kept in external files are refused rather than read), checks it with
``onnx.checker``, infers its shapes, and maps each ONNX node to one of our node types:

    Gemm, MatMul(+Add) with a constant weight -> Linear      Conv -> Conv2d
    ConvTranspose -> ConvTranspose2d   MaxPool -> MaxPool2d   AveragePool -> AvgPool2d
    GlobalAveragePool -> AdaptiveAvgPool2d(1)   BatchNormalization -> BatchNorm1d/2d
    LayerNormalization -> LayerNorm    Gather(constant table) -> Embedding
    Flatten, Reshape (constant shape), Transpose -> Flatten, Reshape, Permute
    Relu, Tanh, Sigmoid, LeakyRelu, Elu, Gelu, Softplus, Softmax, LogSoftmax -> the same
    Add, Sub, Mul, MatMul, Concat, ReduceMean -> Add, Subtract, Multiply, MatMul, Concat, Mean
    Mul or Div by a constant scalar -> Scale     Identity -> Identity   Dropout -> Dropout
    Add of a causal mask / of the sinusoidal table -> CausalMask / SinusoidalTable + Add
    LSTM, GRU (linear_before_reset=1), RNN -> LSTM, GRU, RNN (one node per layer, gates
        back in PyTorch's order; Squeeze or Transpose + Reshape of Y is the node's output)
    Log, Exp, Pow (constant exponent) -> Log, Exp, Pow
    an initializer "<node>.weight" read by an op without weights -> Parameter; a tensor of
        one value (our Constant, a constant Add/Sub operand) -> Constant

Our own exports come back closer still: a node our exporter wrote as several ops
(ShiftRight, the attention nodes, RNN/LSTM/GRU of several layers or batch_first, GLU,
Chunk, Softplus) is listed in the model's metadata and rebuilt whole when the file holds
exactly what our exporter writes for it (:mod:`.onnx_rebuild`); blocks are put back from
their parts; and a model that reads the targets (teacher forcing) is fed by the Dataset node
it was exported from again, since an Input node carries no class indices.

Shape computations (Shape, Gather, Unsqueeze, Concat, ConstantOfShape) are followed only
as far as PyTorch's exporter uses them: to make a recurrent op's zero initial state.

Each graph input becomes an Input node (its shape without the batch dim N); the graph
outputs are the last nodes' outputs (no loss is added: wire one to train). Node ids come
from the weights' names (``fc1.weight`` -> ``fc1``, as PyTorch and our exporter write them)
or the ONNX node names, and the nodes are laid out with :func:`playground.graph.layout`.
Any op we have no node for is listed in one message and nothing is made.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from playground.graph import GraphModel, layout
from playground.graph.layout import PRESET_WINDOW
from playground.project import Project

from .onnx_export import BLOCKS_KEY, DATA_KEY, ExportError, build_program, require_onnx
from ._names import distinct
from .onnx_import_ops import IMPORTERS
from .onnx_rebuild import rebuild

#: The oldest default-domain opset read (the attribute layouts handled below).
MIN_OPSET = 13


class OnnxImportError(ValueError):
    """An ONNX file that cannot become a project. ``field`` names the culprit
    (``"graph.node[3]"``, ``"graph.initializer['fc1.weight']"``, or ``""`` for the file)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


# ------------------------------------------------------------------------------- reading


def read_model(source: str | os.PathLike | bytes):
    """Parse and check an ONNX model (a path or the file's bytes); returns the ModelProto.

    Raises:
        OnnxImportError: unreadable, not a protobuf ModelProto, no graph, external weight
            data, or refused by ``onnx.checker`` (its message names the field).
    """
    try:
        onnx = require_onnx()
    except ExportError as exc:
        raise OnnxImportError(str(exc).replace("export", "import")) from None
    where = "the model"
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        where = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise OnnxImportError(f"{source}: cannot read the file: {exc}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError, and friends
        raise OnnxImportError(f"{where}: not an ONNX model (the protobuf does not parse: "
                              f"{exc}). Is it a .onnx file?") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxImportError(f"{where}: graph is missing or has no nodes; this is not an "
                              "ONNX model of a network", "graph")
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxImportError(f"{where}: graph.initializer[{init.name!r}] keeps its data "
                                  "in an external file, which is not read. Save the model "
                                  "with its weights inside (onnx.save_model(..., "
                                  "save_as_external_data=False)).",
                                  f"graph.initializer[{init.name!r}]")
    for kind in ("input", "output"):
        for i, v in enumerate(getattr(model.graph, kind)):
            field = f"graph.{kind}[{i}]"
            if v.name in {init.name for init in model.graph.initializer}:
                continue
            if not v.type.HasField("tensor_type"):
                raise OnnxImportError(f"{where}: {field} {v.name!r} is not a tensor; only "
                                      "tensor inputs and outputs are imported", field)
            if not v.type.tensor_type.HasField("shape"):
                raise OnnxImportError(f"{where}: {field} {v.name!r} needs a shape (N, ...) "
                                      "with a batch dim and at least one more" if
                                      kind == "input" else f"{where}: {field} {v.name!r} "
                                      "has no shape", field)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, and the C++ checker's decode errors
        first = str(exc).strip().splitlines()[0]
        raise OnnxImportError(f"{where}: onnx.checker refuses it: {first}") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset < MIN_OPSET:
        raise OnnxImportError(f"{where}: opset_import {opset} is older than opset "
                              f"{MIN_OPSET}; convert it with onnx.version_converter first",
                              "opset_import")
    return model


# ------------------------------------------------------------------------------ mapping


def _attrs(node) -> dict[str, Any]:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")


#: ONNX ops that carry a layer's weights: their names claim the layer's id.
_WEIGHTED = {"Gemm", "Conv", "ConvTranspose", "BatchNormalization", "LayerNormalization",
             "LSTM", "GRU", "RNN"}


def _name_hint(node) -> str:
    """``/fc1/Gemm`` -> ``fc1``; ``tanh1`` -> ``tanh1``; ``/ReduceMean`` -> "" (no name
    but the op's); no name -> the output's."""
    name = node.name.strip("/").split(".")[0]  # our exporter's "z.z": node z, port z
    if not name:
        return node.output[0].split(".")[0]
    parts = name.split("/")
    if parts[-1].split("_")[0] == node.op_type:
        parts = parts[:-1]
    return "_".join(parts)


def _name_path(node, initializers) -> str:
    """Where a node came from, "/" kept: ``layer1_0/conv1.weight`` -> ``layer1_0/conv1``,
    node ``layer1_0/relu1`` -> ``layer1_0/relu1``, ``/fc1/Gemm`` -> ``fc1``."""
    for i in node.input[1:]:
        if i in initializers and "." in i:
            return i.rsplit(".", 1)[0]
    parts = node.name.strip("/").split(".")[0].split("/")
    if parts and parts[-1].split("_")[0] == node.op_type:
        parts = parts[:-1]
    return "/".join(parts)


def _same_params(type_: str, a: dict, b: dict) -> bool:
    """Whether two param sets of a node type mean the same: ints and pairs alike
    (``3`` = ``(3, 3)``), a pool's stride None = its kernel, floats to float32 rounding."""
    from playground.graph import REGISTRY

    spec = REGISTRY[type_]

    def norm(params):
        out = spec.validate_params(params)
        for ps in spec.params:
            v = out[ps.name]
            if ps.type == "ints" and ps.length and isinstance(v, int):
                out[ps.name] = (v,) * ps.length
        if "stride" in out and out["stride"] is None and "kernel_size" in out:
            out["stride"] = out["kernel_size"]
        return out
    try:
        x, y = norm(a), norm(b)
    except ValueError:
        return False
    for k in x:
        if isinstance(x[k], float) or isinstance(y[k], float):
            if x[k] is None or y[k] is None or not np.isclose(x[k], y[k], rtol=1e-6, atol=0):
                return False
        elif x[k] != y[k]:
            return False
    return True


def _collapse_blocks(im, blocks: dict) -> list[str]:
    """Put back each block listed in the model's metadata whose members were imported
    exactly as its template makes them (same local ids, types, params and wires); returns
    the block ids rebuilt. Other blocks stay as their parts."""
    from playground.graph import REGISTRY, is_composite

    done = []
    for bid in sorted(blocks, key=lambda b: -b.count("/")):  # the innermost first
        info = blocks[bid]
        if not (isinstance(info, dict) and isinstance(info.get("params"), dict) and
                info.get("type") in REGISTRY and is_composite(REGISTRY[info["type"]])):
            continue
        spec = REGISTRY[info["type"]]
        try:
            params = spec.validate_params(info["params"])
            sub = spec.make_subgraph(params)
        except ValueError:
            continue
        members = {}
        for node in im.nodes:
            path = im.origin.get(node["id"], "")
            if path.startswith(f"{bid}/"):
                members.setdefault(path[len(bid) + 1:], []).append(node)
        inner = {n.id: n for n in sub.nodes}
        if set(members) != set(inner) or any(len(v) != 1 for v in members.values()):
            continue
        local = {v[0]["id"]: k for k, v in members.items()}
        if any(members[k][0]["type"] != n.type or  # a nested block: rebuilt before
               (n.subgraph is not None and members[k][0]["id"] not in done) or
               not _same_params(n.type, members[k][0]["params"], n.params)
               for k, n in inner.items()):
            continue
        wires = {(local[e["src"]], e["src_port"], local[e["dst"]], e["dst_port"])
                 for e in im.edges if e["src"] in local and e["dst"] in local}
        if wires != set(map(tuple, sub.edges)):
            continue
        into = {t: p.name for p in sub.inputs for t in p.targets}
        out_of = {tuple(p.source): p.name for p in sub.outputs}
        edges, ok = [], True
        for e in im.edges:
            s_in, d_in = e["src"] in local, e["dst"] in local
            if s_in and d_in:
                continue
            e, port = dict(e), ""
            if d_in:
                port = into.get((local[e["dst"]], e["dst_port"]))
                e["dst"], e["dst_port"] = bid, port
            if s_in:
                port = out_of.get((local[e["src"]], e["src_port"]))
                e["src"], e["src_port"] = bid, port
            if port is None:
                ok = False
                break
            if e not in edges:
                edges.append(e)
        if not ok or bid in im.ids - set(local):
            continue
        first = min(im.nodes.index(v[0]) for v in members.values())
        keep = [n for n in im.nodes if n["id"] not in local]
        keep.insert(first, {"id": bid, "type": spec.type, "name": bid,
                            "params": dict(info["params"]), "pos": [0, 0]})
        im.nodes[:] = keep
        im.edges[:] = edges
        for key in list(im.weights):  # "<member>.<param>", "<nested block>/<...>"
            nid = next((n for n in local if key.startswith((f"{n}.", f"{n}/"))), None)
            if nid is not None:
                im.weights[f"{bid}/{local[nid]}{key[len(nid):]}"] = im.weights.pop(key)
        for value, (nid, port) in list(im.refs.items()):
            if nid in local:
                im.refs[value] = (bid, out_of.get((local[nid], port), port))
        im.ids.add(bid)
        im.origin[bid] = bid
        done.append(bid)
    return done


def _flatten_ids(im) -> None:
    """A nested block rebuilt inside a block that was not keeps a "/" in its id
    (``inc3a/branch1``); top-level ids have none: ``inc3a_branch1``."""
    for node in list(im.nodes):
        old = node["id"]
        if "/" not in old:
            continue
        new = im.new_id(old.replace("/", "_"), node["type"])
        node["id"] = node["name"] = new
        for e in im.edges:
            for end in ("src", "dst"):
                if e[end] == old:
                    e[end] = new
        for key in [k for k in im.weights if k.startswith(f"{old}/")]:
            im.weights[new + key[len(old):]] = im.weights.pop(key)
        for value, (nid, port) in list(im.refs.items()):
            if nid == old:
                im.refs[value] = (new, port)


class _Importer:
    def __init__(self, model, where: str):
        import onnx
        from onnx import numpy_helper

        self.onnx, self.where = onnx, where
        graph = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i)
                                              for i in graph.initializer}
        inferred = onnx.shape_inference.infer_shapes(model)
        self.model = model
        self.shapes: dict[str, tuple] = {}
        self.elem_types: dict[str, int] = {}
        for v in list(inferred.graph.value_info) + list(graph.input) + list(graph.output):
            t = v.type.tensor_type
            self.elem_types[v.name] = t.elem_type
            if t.HasField("shape"):
                self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                            for d in t.shape.dim)
        self.uses: dict[str, int] = {}
        for n in graph.node:
            for i in n.input:
                self.uses[i] = self.uses.get(i, 0) + 1
        for o in graph.output:
            self.uses[o.name] = self.uses.get(o.name, 0) + 1
        self.refs: dict[str, tuple[str, str]] = {}
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.ids: set[str] = set()
        self.fusable: dict[str, dict] = {}   # MatMul-made Linear output -> its node dict
        #: values computed from a tensor's shape (Shape -> Gather -> Concat ...), and the
        #: zero tensors made from them (ConstantOfShape): a recurrent op's default state
        self.symbolic: set[str] = set()
        self.zeros: set[str] = set()
        #: a recurrent op's Y (L, D, N, H) -> (node id, D, stage): Squeeze or
        #: Transpose + Reshape turn it into our (L, N, D*H) output
        self.sequences: dict[str, tuple[str, int, str]] = {}
        #: MatMul(P_H, x) waiting for its P_Wᵀ: an adaptive average pool
        self.adaptive: dict[str, tuple[str, np.ndarray]] = {}
        #: node id -> the "/" path it came from ("layer1_0/conv1": a block's member)
        self.origin: dict[str, str] = {}
        self.graph = graph

    # -- helpers -----------------------------------------------------------------------

    def fail(self, node, message: str):
        raise OnnxImportError(f"{self.where}: {node.op_type} node {node.name or node.output[0]!r}"
                              f": {message}", f"graph.node[{node.name or node.output[0]}]")

    def new_id(self, hint: str, type_: str) -> str:
        base = _clean(hint) or re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type_).lower()
        if base[0].isdigit():
            base = f"{type_.lower()}_{base}"
        return distinct(base, self.ids)

    def hint(self, node) -> str:
        """A node id from its weights' name (``fc1.weight``), else its ONNX node name
        (``/fc1/Gemm`` -> ``fc1``; ``/lstm/Transpose`` -> ``lstm_transpose`` when the
        LSTM's weights claim ``lstm``), else "" (an id from the type)."""
        for i in node.input[1:]:
            if i in self.graph_initializers and "." in i and not (
                    node.op_type not in _WEIGHTED and self.is_tensor_node(i)):
                return i.rsplit(".", 1)[0]
        hint = _name_hint(node)
        if not node.name.strip("/"):
            return hint if hint not in self.reserved else ""
        if hint in self.reserved and node.op_type not in _WEIGHTED:
            hint = f"{hint}_{node.op_type.lower()}"
        return hint

    def add(self, node, type_: str, params: dict, inputs: dict[str, str],
            weights: dict[str, np.ndarray] | None = None, outputs: dict[str, str] | None = None,
            hint: str | None = None) -> dict:
        nid = self.new_id(self.hint(node) if hint is None else hint, type_)
        record = {"id": nid, "type": type_, "name": nid, "params": params, "pos": [0, 0]}
        self.nodes.append(record)
        self.origin[nid] = _name_path(node, self.graph_initializers)
        for port, value in inputs.items():
            src = self.ref(node, value)
            self.edges.append({"src": src[0], "src_port": src[1], "dst": nid, "dst_port": port})
        for key, arr in (weights or {}).items():
            self.weights[f"{nid}.{key}"] = np.asarray(arr, np.float32)
        for port, value in (outputs if outputs is not None else
                            {"output": node.output[0]}).items():
            self.refs[value] = (nid, port)
        return record

    def ref(self, node, value: str) -> tuple[str, str]:
        if value in self.refs:
            return self.refs[value]
        if value in self.symbolic or value in self.zeros:
            self.fail(node, f"input {value!r} is computed from a tensor's shape (Shape, "
                            "ConstantOfShape...), which is imported only as a recurrent op's "
                            "zero initial state")
        if value in self.sequences:
            self.fail(node, f"input {value!r} is a recurrent op's raw Y (L, D, N, H); it is "
                            "imported only through Squeeze(axis 1) or Transpose(0, 2, 1, 3) + "
                            "Reshape")
        if value in self.consts and (self.is_tensor_node(value) or self.uniform(value)):
            return self._tensor_node(value)
        if value in self.consts:
            self.fail(node, f"input {value!r} is a constant here; this op is imported only "
                            "with computed inputs (or a learnable tensor named "
                            "'<node>.weight', or a tensor of one value)")
        self.fail(node, f"input {value!r} comes from nothing imported")

    def const(self, value: str):
        return self.consts.get(value)

    def parameter_id(self, value: str) -> str | None:
        """The node id of a learnable tensor that an op without weights of its own reads:
        our Parameter's initializer ``"<node>.weight"``, or a root ``nn.Parameter`` of a
        PyTorch model (an initializer named as its attribute, ``"w1"``: torch names its
        folded constants ``"onnx::Mul_12"``); else None."""
        if value not in self.graph_initializers:
            return None
        if value.endswith(".weight") and value.count(".") == 1:
            return value[:-len(".weight")]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and \
                self.model.producer_name == "pytorch":
            return value
        return None

    def is_tensor_node(self, value: str) -> bool:
        """Whether a constant comes back as a node of its own: a Parameter (see
        :meth:`parameter_id`) or our Constant node's value (an ONNX Constant of one value
        whose output is named like a node id)."""
        if value not in self.consts:
            return False
        if value in self.graph_initializers:
            return self.parameter_id(value) is not None
        return value in self.constant_ops and re.fullmatch(r"[A-Za-z_]\w*", value) \
            is not None and self.uniform(value)

    def uniform(self, value: str) -> bool:
        arr = self.consts.get(value)
        return arr is not None and arr.size >= 1 and arr.dtype.kind == "f" and \
            bool(np.all(arr == arr.reshape(-1)[0]))

    def _tensor_node(self, value: str) -> tuple[str, str]:
        """A Parameter (a learnable initializer) or a Constant (one value) node for a
        constant that an op reads as a tensor; its (node id, port)."""
        arr = np.asarray(self.consts[value], np.float32)
        shape = [int(d) for d in arr.shape] or [1]
        first = float(arr.reshape(-1)[0])
        pid = self.parameter_id(value)
        if pid is not None:
            nid = self.new_id(pid, "Parameter")
            self.nodes.append({"id": nid, "type": "Parameter", "name": nid,
                               "params": {"shape": shape, "init": "constant", "value": first,
                                          "std": 1.0}, "pos": [0, 0]})
            self.weights[f"{nid}.weight"] = arr.reshape(shape)
        else:
            nid = self.new_id(value, "Constant")
            self.nodes.append({"id": nid, "type": "Constant", "name": nid,
                               "params": {"shape": shape, "value": first}, "pos": [0, 0]})
        self.origin[nid] = nid
        self.refs[value] = (nid, "output")
        return self.refs[value]

    def shape(self, value: str) -> tuple | None:
        return self.shapes.get(value)

    # -- run -----------------------------------------------------------------------------

    def run(self) -> None:
        graph = self.graph
        self.graph_initializers = set(self.consts)
        self.constant_ops = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
        #: ids the weighted nodes will take (from their weights' names)
        self.reserved = {i.rsplit(".", 1)[0] for n in graph.node for i in n.input[1:]
                         if i in self.graph_initializers and "." in i}
        self.reserved |= {_name_hint(n) for n in graph.node if n.op_type in _WEIGHTED}
        self.reserved |= {v for v in self.graph_initializers  # PyTorch's root parameters
                          if "." not in v and self.parameter_id(v) is not None}
        skip, eps_inputs = self._reparameterizations()
        #: our nodes the exporter wrote as several ops, to put back whole (onnx_rebuild)
        rebuilt = rebuild(self, self.model)
        for first, info in rebuilt.items():
            skip.update({k: None for k in info["skip"] if k not in skip})
        unknown = sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                          for k, n in enumerate(graph.node) if k not in skip and (
                              n.domain not in ("", "ai.onnx") or n.op_type not in IMPORTERS)})
        if unknown:
            raise OnnxImportError(
                f"{self.where}: cannot import: no node here for the ONNX op"
                f"{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}. Nothing was "
                f"written. Ops we import: {', '.join(sorted(IMPORTERS))}.", "graph.node")
        fed = self._data_node()
        for i, inp in enumerate(graph.input):
            if inp.name in self.consts or inp.name in eps_inputs or inp.name in fed:
                continue  # an old-style initializer listed as an input; a VAE's noise
            self._input(inp, i)
        for k, node in enumerate(graph.node):
            if k in rebuilt:
                self._rebuilt(node, rebuilt[k])
                continue
            if k in skip:
                if skip[k] is not None:
                    mu, logvar = skip[k]
                    self.add(node, "Reparameterize", {}, {"mu": mu, "logvar": logvar},
                             outputs={"z": node.output[0]}, hint=_name_hint(node))
                continue
            try:
                IMPORTERS[node.op_type](self, node, _attrs(node))
            except OnnxImportError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                # attributes or constants of the wrong kind, e.g. string weights
                raise OnnxImportError(f"{self.where}: graph.node[{k}] ({node.op_type} "
                                      f"{node.name or node.output[0]!r}) cannot be read: "
                                      f"{type(exc).__name__}: {exc}", f"graph.node[{k}]"
                                      ) from None
        for out in graph.output:
            if out.name not in self.refs:
                raise OnnxImportError(f"{self.where}: graph output {out.name!r} is not made by "
                                      "any imported node (a constant?)", "graph.output")

    def _data_node(self) -> set[str]:
        """When the model reads the targets (a ``target`` input: teacher forcing) and the
        metadata (DATA_KEY) names the Dataset node it was exported from, that node again,
        feeding ``x`` and ``target`` (an Input node carries no class indices), if its data
        still has those shapes. Returns the graph inputs it feeds."""
        from playground.graph import REGISTRY, dataset_of

        meta = {p.key: p.value for p in self.model.metadata_props}
        names = {i.name: i for i in self.graph.input}
        if DATA_KEY not in meta or "target" not in names:
            return set()
        try:
            info = json.loads(meta[DATA_KEY])
            if info.get("type") != "Dataset":
                return set()
            params = REGISTRY["Dataset"].validate_params(info["params"], owner="Dataset")
            data = dataset_of(params)
            splits = {"x": data.train.input, "target": data.train.target}
            for port in set(names) & set(splits):
                if self.shape(port) is None or \
                        tuple(self.shape(port)[1:]) != splits[port].shape[1:] or \
                        (self.elem_types.get(port) == self.onnx.TensorProto.FLOAT) != \
                        (splits[port].dtype.kind == "f"):
                    return set()
        except Exception:  # noqa: BLE001 - no such data here, or other shapes: Input nodes
            return set()
        nid = self.new_id(str(info.get("id") or "data"), "Dataset")
        self.nodes.append({"id": nid, "type": "Dataset", "name": nid,
                           "params": dict(info["params"]), "pos": [0, 0]})
        self.origin[nid] = nid
        fed = set(names) & {"x", "target"}
        for port in fed:
            self.refs[port] = (nid, port)
        return fed

    def _rebuilt(self, node, info: dict) -> None:
        """Add a node :func:`onnx_rebuild.rebuild` found whole, at its first ONNX node."""
        nid = self.new_id(info["id"], info["type"])
        self.nodes.append({"id": nid, "type": info["type"], "name": nid,
                           "params": info["params"], "pos": [0, 0]})
        self.origin[nid] = info["id"]
        for port, value in info["inputs"].items():
            src = self.ref(node, value)
            self.edges.append({"src": src[0], "src_port": src[1], "dst": nid, "dst_port": port})
        for key, arr in info["weights"].items():
            self.weights[f"{nid}.{key}"] = np.asarray(arr, np.float32)
        for port, value in info["outputs"].items():
            self.refs[value] = (nid, port)

    def _reparameterizations(self):
        """The VAE sampling step as our exporter writes it, with its noise a graph input:
        ``z = Add(mu, Mul(Exp(Mul(logvar, 0.5)), eps))``. Returns ({index of an ONNX node:
        None to skip it, or (mu, logvar) for the Add that becomes Reparameterize}, {eps
        input names}). (Indices: protobuf's Python objects are not stable.)"""
        graph = self.graph
        nodes = list(graph.node)
        index = {o: k for k, n in enumerate(nodes) for o in n.output}
        made = {o: nodes[k] for o, k in index.items()}
        inputs = {i.name for i in graph.input}
        skip, eps_inputs = {}, set()
        for k_add, add in enumerate(nodes):
            if add.op_type != "Add" or len(add.input) != 2:
                continue
            for mu, prod in (add.input, add.input[::-1]):
                mul = made.get(prod)
                if mul is None or mul.op_type != "Mul":
                    continue
                eps = next((v for v in mul.input if v in inputs), None)
                exp = made.get(next((v for v in mul.input if v != eps), ""))
                if eps is None or exp is None or exp.op_type != "Exp":
                    continue
                half = made.get(exp.input[0])
                if half is None or half.op_type != "Mul":
                    continue
                consts = [self.consts.get(v) for v in half.input]
                c = next((v for v in consts if v is not None), None)
                if c is None or c.size != 1 or float(c.reshape(())) != 0.5:
                    continue
                logvar = next(v for v, k in zip(half.input, consts) if k is None)
                if any(self.uses.get(v, 0) != 1 for v in (prod, exp.output[0],
                                                          half.output[0], eps)):
                    continue
                skip.update({index[prod]: None, index[exp.output[0]]: None,
                             index[half.output[0]]: None, k_add: (mu, logvar)})
                eps_inputs.add(eps)
                break
        return skip, eps_inputs

    def _input(self, inp, index: int) -> None:
        onnx = self.onnx
        t = inp.type.tensor_type
        where = f"graph.input[{index}]"
        if not t.HasField("shape") or len(t.shape.dim) < 2:
            raise OnnxImportError(f"{self.where}: {where} {inp.name!r} needs a shape (N, ...) "
                                  "with a batch dim and at least one more", where)
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim[1:]]
        if None in dims:
            raise OnnxImportError(f"{self.where}: {where} {inp.name!r} has a symbolic dim "
                                  f"besides the batch: {dims}. Export it with fixed sizes "
                                  "except the first.", where)
        if t.elem_type == onnx.TensorProto.FLOAT:
            dtype = "float32"
        elif t.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            dtype = "int64"
        else:
            raise OnnxImportError(f"{self.where}: {where} {inp.name!r} has element type "
                                  f"{onnx.TensorProto.DataType.Name(t.elem_type)}; float32 or "
                                  "int64 inputs are imported", where)
        nid = self.new_id(inp.name, "Input")
        self.nodes.append({"id": nid, "type": "Input", "name": inp.name,
                           "params": {"shape": dims, "dtype": dtype}, "pos": [0, 0]})
        self.refs[inp.name] = (nid, "output")


# ----------------------------------------------------------------------------------- api


def _attach_dataset(im: _Importer, model, dataset: str, where: str) -> None:
    """Replace the one Input node by a Dataset node and add a CrossEntropyLoss on the
    one output (see :func:`import_onnx`)."""
    from math import prod

    from playground.graph import REGISTRY, ParamError, dataset_of

    inputs = [n for n in im.nodes if n["type"] == "Input"]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise OnnxImportError(f"{where}: a dataset feeds a model of one input and one output "
                              f"(the logits); this one has {len(inputs)} inputs and "
                              f"{len(model.graph.output)} outputs", "dataset")
    try:
        params = REGISTRY["Dataset"].validate_params({"dataset": dataset}, owner="Dataset")
        data = dataset_of(params)
    except (ParamError, ValueError, KeyError, OSError) as exc:
        raise OnnxImportError(f"{where}: dataset {dataset!r}: {exc}", "dataset") from None
    (inp,) = inputs
    shape, feature = tuple(inp["params"]["shape"]), tuple(data.feature_shape)
    int_data = data.train.input.dtype.kind == "i"
    if (inp["params"]["dtype"] == "int64") != int_data or prod(shape) != prod(feature):
        raise OnnxImportError(f"{where}: the model takes (N, {', '.join(map(str, shape))}) "
                              f"{inp['params']['dtype']}, but dataset {dataset!r} gives "
                              f"(N, {', '.join(map(str, feature))}) "
                              f"{'int64' if int_data else 'float32'}; pick a dataset of that "
                              "size", "dataset")
    data_id = im.new_id("data", "Dataset")
    src = (data_id, "x")
    im.nodes[im.nodes.index(inp)] = {"id": data_id, "type": "Dataset", "name": data_id,
                                     "params": {"dataset": dataset}, "pos": [0, 0]}
    if shape != feature:  # the same values in another layout
        rid = im.new_id("reshape_x", "Reshape")
        im.nodes.append({"id": rid, "type": "Reshape", "name": rid,
                         "params": {"shape": list(shape)}, "pos": [0, 0]})
        im.edges.append({"src": data_id, "src_port": "x", "dst": rid, "dst_port": "input"})
        src = (rid, "output")
    for edge in im.edges:
        if edge["src"] == inp["id"]:
            edge["src"], edge["src_port"] = src
    out = model.graph.output[0].name
    logits = im.shape(out)
    if logits is None or len(logits) != 2 or logits[1] != data.num_classes:
        raise OnnxImportError(f"{where}: the model's output {out!r} has shape "
                              f"{logits}; a CrossEntropyLoss on dataset {dataset!r} needs "
                              f"logits (N, {data.num_classes})", "dataset")
    node, port = im.refs[out]
    loss = im.new_id("loss", "CrossEntropyLoss")
    im.nodes.append({"id": loss, "type": "CrossEntropyLoss", "name": loss, "params": {},
                     "pos": [0, 0]})
    im.edges += [{"src": node, "src_port": port, "dst": loss, "dst_port": "input"},
                 {"src": data_id, "src_port": "target", "dst": loss, "dst_port": "target"}]


def import_onnx(source: str | os.PathLike | bytes, name: str | None = None,
                dataset: str | None = None) -> Project:
    """An ONNX model as a :class:`Project` with its weights (``project.weights``), laid
    out for the canvas. Save it with ``playground.project.save`` (the weights go in the
    ``.npz`` beside the JSON). Nothing of the file is executed.

    With ``dataset`` (a Dataset node's dataset, e.g. ``"digits"``) the model's one input
    is fed by that Dataset (through a Reshape when only the layout differs, e.g. digits'
    (N, 64) into a CNN's (N, 1, 8, 8)) and its one output, the logits (N, num_classes),
    goes into a CrossEntropyLoss against the targets: the project then trains and steps
    forward and backward in the app.

    Raises:
        OnnxImportError: the file is malformed (the message names the field), has ops we
            have no node for (one message lists them all), or uses an op in a way we cannot
            represent (the message names the node).
    """
    return import_model(source, name, dataset)[0]


def import_model(source: str | os.PathLike | bytes, name: str | None = None,
                 dataset: str | None = None) -> tuple[Project, dict[str, tuple[str, str]]]:
    """:func:`import_onnx`, and where each ONNX graph output ended up:
    ``{onnx output name: (node id, port)}`` (raises as :func:`import_onnx`)."""
    model = read_model(source)
    where = "the model" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        im = _Importer(model, where)
    except OnnxImportError:
        raise
    except Exception as exc:  # an initializer or value_info numpy cannot read
        raise OnnxImportError(f"{where}: the weights or shapes cannot be read: "
                              f"{type(exc).__name__}: {exc}", "graph.initializer") from None
    try:
        im.run()
    except OnnxImportError:
        raise
    except Exception as exc:  # a graph input of a kind the mapping did not foresee
        raise OnnxImportError(f"{where}: cannot import: {type(exc).__name__}: {exc}") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if BLOCKS_KEY in meta:
        try:
            blocks = json.loads(meta[BLOCKS_KEY])
        except ValueError:
            blocks = None
        if not isinstance(blocks, dict):
            raise OnnxImportError(f"{where}: metadata_props[{BLOCKS_KEY!r}] is not a JSON "
                                  "object of blocks", f"metadata_props[{BLOCKS_KEY!r}]")
        _collapse_blocks(im, blocks)
        _flatten_ids(im)
    outputs = {o.name: im.refs[o.name] for o in model.graph.output}
    if dataset is not None:
        _attach_dataset(im, model, dataset, where)
    graph = {"nodes": im.nodes, "edges": im.edges}
    try:
        gm = GraphModel.from_dict(graph)
    except Exception as exc:
        raise OnnxImportError(f"{where}: the imported graph does not load: {exc}") from None
    errors = gm.errors()
    if errors:
        nid, msg = next(iter(errors.items()))
        raise OnnxImportError(f"{where}: the imported graph has errors: {msg}", f"node {nid}")
    pos = layout(gm, window=PRESET_WINDOW)
    for node in im.nodes:
        x, y = pos[node["id"]]
        node["pos"] = [round(float(x)), round(float(y))]
    stem = Path(str(source)).stem if not isinstance(source, (bytes, bytearray)) else "model"
    producer = f"{model.producer_name} {model.producer_version}".strip() or "an unknown tool"
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    origin = "an ONNX model" if stem == "model" else Path(str(source)).name
    project = Project(name=name or model.graph.name or stem, graph=graph,
                      notes=f"Imported from {origin} (made by {producer}, opset {opset}). "
                            + (f"It trains on {dataset} with a CrossEntropyLoss." if dataset
                               else "Its Dataset node is the one it was exported with (it "
                               "reads the targets); wire a loss to train it." if any(
                                   n["type"] == "Dataset" for n in im.nodes)
                               else "Wire a Dataset and a loss to train it."),
                      weights=dict(im.weights))
    try:
        program = build_program(project)  # every weight fits its node, or say which not
    except Exception as exc:
        raise OnnxImportError(f"{where}: the imported graph does not compile: {exc}") from None
    want = {f"{c.node_id}.{k}": v.data.shape for c in program.calls if c.module is not None
            for k, v in list(c.module.named_parameters()) + list(c.module.named_buffers())
            if v is not None}
    for key, arr in im.weights.items():
        if key in want and want[key] != arr.shape:
            raise OnnxImportError(f"{where}: weight {key} has shape {arr.shape} but the node "
                                  f"expects {want[key]}", key)
    return project, outputs


__all__ = ["MIN_OPSET", "OnnxImportError", "IMPORTERS", "import_model", "import_onnx",
           "read_model"]
