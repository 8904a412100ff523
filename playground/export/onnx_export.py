"""A project's model to an ONNX file, built with the ``onnx`` package's helper API.

What is exported is the *model* part of the graph, with every block exported through its
parts (a ResNet block becomes its Conv, BatchNormalization, Relu and Add nodes):

* **Graph inputs** (batch dim ``N`` dynamic): the data node's outputs the model reads
  (a Dataset's or Regression's ``x``, and ``target`` where the model itself reads it, as
  ShiftRight does for teacher forcing), each Input node (named after the node), each
  NoiseSource (``(N, dim)``, named after the node: the noise is the caller's) and, for
  each Reparameterize node, its
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
:mod:`playground.export.onnx_import` can put the blocks back together. It also lists the
nodes written as several ops (:data:`NODES_KEY`: ShiftRight, attention, recurrent layers...)
and the data node (:data:`DATA_KEY`), so that an import rebuilds those nodes whole.

A Parameter is its initializer (``"<node id>.weight"``), a Constant an ONNX Constant named
after the node; Log, Exp and Pow are ONNX's own ops.

The ONNX opset (:data:`OPSET`) and IR version (:data:`IR_VERSION`) are pinned: onnx 1.23
would write IR 11+, which onnxruntime 1.30 refuses. ``onnx`` is imported only when a
function here runs; the app does not depend on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from playground.engine import manual_seed
from playground.graph import GraphModel, Program, compile
from playground.graph.compile import FlatNode, flatten
from playground.graph.nodes.regression import DATA_SOURCES
from playground.project import Project

from .onnx_ops import MAPPERS, ExportError, _Builder, _Ctx
#: Model metadata keys: the nodes written as several ops (onnx_rebuild.NODES_KEY) and the
#: data node whose ports are graph inputs (DATA_KEY: ``{"id", "type", "params"}``), so that
#: an import of a model that reads the targets (teacher forcing) feeds them from that node
#: again (an Input node carries no class indices).
from .onnx_rebuild import DATA_KEY, NODES_KEY, REBUILT_TYPES, record

#: The ONNX operator set and IR version written (onnxruntime 1.30 reads IR ≤ 10).
OPSET = 21
IR_VERSION = 10

PARTS = ("generator", "discriminator")
#: Model metadata key: ``{block id: {"type", "params"}}`` of the blocks exported through
#: their parts (their nodes' names start with ``"<block id>/"``).
BLOCKS_KEY = "dl_playground.blocks"
_MISSING_ONNX = "ONNX export needs the onnx package: pip install onnx"


def require_onnx():
    """The ``onnx`` module; ExportError with the pip command when it is not installed."""
    try:
        import onnx
    except ImportError:
        raise ExportError(_MISSING_ONNX) from None
    return onnx


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


#: Types that become graph inputs rather than nodes (their own inputs are not followed).
#: Data nodes (Dataset, Regression, GradientNoise): their ports (``x``, ``target``) become
#: graph inputs named after the port.
_DATA = tuple(DATA_SOURCES)
_SOURCES = (*_DATA, "Input", "NoiseSource")


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
                if by_id[ref[0]].spec.type not in (*_DATA, "Input") and ref not in outputs:
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
    members = [n for n in flat if n.node_id in need and n.spec.type not in (*_DATA, "Input")]
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
    rebuilt: dict[str, dict] = {}   # NODES_KEY: the nodes an import can put back whole
    data_node: dict = {}            # DATA_KEY
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
        if src.spec.type in _DATA:
            name = ref[1]
            data_node.update(id=src.node_id, type=src.spec.type, params=_jsonable(src.params))
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
        if t in REBUILT_TYPES:
            rebuilt[node.node_id] = record(node, ins, result, ctx.used, node.in_shapes)
        for port, name in result.items():
            values[(node.node_id, port)] = name
    b.prefix = ""
    graph_outputs = []
    inits = {i.name for i in b.initializers}
    for ref in outputs:
        st = states[ref[0]]
        if values[ref] in inits:  # a Parameter read by a loss: the output is its value
            b.prefix = ref[0]
            values[ref] = b.op("Identity", [values[ref]], out_name(*ref))
            b.prefix = ""
        graph_outputs.append(value_info(values[ref], st.outputs[ref[1]], np.float32))
    graph = helper.make_graph(b.nodes, project.name or "model", b.inputs, graph_outputs,
                              initializer=b.initializers,
                              doc_string=f"DL Playground project {project.name!r}")
    m = helper.make_model(graph, producer_name="dl-playground",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    props = {}
    if blocks:  # which blocks the nodes came from, so that an import can rebuild them
        props[BLOCKS_KEY] = json.dumps(blocks)
    if rebuilt:  # the nodes written as several ops, so that an import can rebuild them
        props[NODES_KEY] = json.dumps(rebuilt)
    if data_node:
        props[DATA_KEY] = json.dumps(data_node)
    if props:
        helper.set_model_props(m, props)
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


__all__ = ["BLOCKS_KEY", "DATA_KEY", "ExportError", "IR_VERSION", "MAPPERS", "NODES_KEY", "OPSET",
           "PARTS", "build_program",
           "export_onnx",
           "require_onnx", "to_onnx"]
