"""GraphModel: what the user drew, on a ``networkx.MultiDiGraph``, with psygnal events.

The graph is the single source of truth. The Qt scene mirrors it through its events and
undo commands call only its methods. Shape inference reruns after every change, so every
node always carries a state: its output shapes, or a message that says what is wrong.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import networkx as nx
from psygnal import Signal

from .spec import REGISTRY, NodeSpec, ParamError, Registry, Shape, ShapeError, Source


# ---------------------------------------------------------------------------------- errors


class WiringError(ValueError):
    """A connection the graph refuses. ``node`` and ``port`` name the end at fault (the
    destination, unless the source is the problem); ``message`` says why and what to do."""

    def __init__(self, message: str, node: str, port: str | None = None):
        super().__init__(message)
        self.message = message
        self.node = node
        self.port = port


class PortKindError(WiringError):
    """Wrong direction (output to output, input to input) or wrong data kind."""


class PortTakenError(WiringError):
    """The input port already has a wire; an input takes one wire."""


class CycleError(WiringError):
    """The wire would close a cycle; networks here are directed acyclic graphs."""


class UnknownPortError(WiringError):
    """The node has no port of that name."""


# ------------------------------------------------------------------------------ value types


@dataclass(frozen=True)
class Edge:
    """A wire from ``src``'s output port to ``dst``'s input port."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


@dataclass
class NodeState:
    """Result of shape inference for one node.

    ``status`` is ``"ok"``, ``"error"`` (this node is wired or set wrong: ``message`` says how,
    ``fix`` is an optional ``(param, value)`` that repairs it) or ``"blocked"`` (an upstream
    node is in error, so this one cannot be checked yet).
    """

    status: str = "ok"
    outputs: dict[str, Shape] = field(default_factory=dict)
    meta: dict[str, dict] = field(default_factory=dict)
    message: str = ""
    fix: tuple[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class NodeRecord:
    """Everything needed to put a removed node back: used by undo."""

    id: str
    type: str
    name: str
    params: dict
    pos: tuple[float, float]
    edges: tuple[Edge, ...]


# ----------------------------------------------------------------------------------- model


class GraphModel:
    """The user's network. Node ids are stable strings (``"linear_1"``).

    Events (psygnal):
        node_added(node_id), node_removed(node_id), edge_added(Edge), edge_removed(Edge),
        param_changed(node_id, name, value), node_moved(node_id, (x, y)),
        node_renamed(node_id, name), states_changed() after each shape inference.
    """

    node_added = Signal(str)
    node_removed = Signal(str)
    edge_added = Signal(object)
    edge_removed = Signal(object)
    param_changed = Signal(str, str, object)
    node_moved = Signal(str, object)
    node_renamed = Signal(str, str)
    states_changed = Signal()

    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry
        self.graph = nx.MultiDiGraph()
        self._states: dict[str, NodeState] = {}
        self._order = itertools.count()

    # -- queries ----------------------------------------------------------------------

    def __contains__(self, node_id: str) -> bool:
        return node_id in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def nodes(self) -> list[str]:
        """Node ids in insertion order."""
        return list(self.graph.nodes)

    def spec(self, node_id: str) -> NodeSpec:
        return self.registry[self.graph.nodes[node_id]["type"]]

    def node(self, node_id: str) -> Mapping[str, Any]:
        """Read-only view of a node's attributes: type, name, params, pos."""
        return self.graph.nodes[node_id]

    def params(self, node_id: str) -> dict[str, Any]:
        return dict(self.graph.nodes[node_id]["params"])

    def name(self, node_id: str) -> str:
        return self.graph.nodes[node_id]["name"]

    def edges(self) -> list[Edge]:
        return [d["edge"] for _, _, d in self.graph.edges(data=True)]

    def in_edges(self, node_id: str) -> list[Edge]:
        return [d["edge"] for _, _, d in self.graph.in_edges(node_id, data=True)]

    def out_edges(self, node_id: str) -> list[Edge]:
        return [d["edge"] for _, _, d in self.graph.out_edges(node_id, data=True)]

    def edge_into(self, node_id: str, port: str) -> Edge | None:
        return next((e for e in self.in_edges(node_id) if e.dst_port == port), None)

    def state(self, node_id: str) -> NodeState:
        return self._states[node_id]

    def states(self) -> dict[str, NodeState]:
        return dict(self._states)

    def errors(self) -> dict[str, str]:
        """``{node_id: message}`` for every node in error."""
        return {n: s.message for n, s in self._states.items() if s.status == "error"}

    def topological_order(self) -> list[str]:
        """Node ids, every node after its inputs; ties broken by insertion order."""
        rank = {n: self.graph.nodes[n]["order"] for n in self.graph}
        return list(nx.lexicographical_topological_sort(self.graph, key=rank.__getitem__))

    # -- edits ------------------------------------------------------------------------

    def new_id(self, type_name: str) -> str:
        stem = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type_name).lower()
        for k in itertools.count(1):
            if f"{stem}_{k}" not in self.graph:
                return f"{stem}_{k}"

    def add_node(self, type_name: str, params: Mapping[str, Any] | None = None,
                 pos: tuple[float, float] = (0.0, 0.0), node_id: str | None = None,
                 name: str | None = None) -> str:
        """Add a node and return its id.

        Raises:
            KeyError: unknown ``type_name`` (the message lists the known types).
            ParamError: a param is unknown or out of range (the message names it).
            ValueError: ``node_id`` is already taken.
        """
        spec = self.registry[type_name]
        node_id = node_id or self.new_id(type_name)
        if node_id in self.graph:
            raise ValueError(f"node id {node_id!r} is already taken")
        values = spec.validate_params(params or {}, owner=name or node_id)
        self.graph.add_node(node_id, type=type_name, name=name or node_id, params=values,
                            pos=(float(pos[0]), float(pos[1])), order=next(self._order))
        self._infer()
        self.node_added.emit(node_id)
        self.states_changed.emit()
        return node_id

    def remove_node(self, node_id: str) -> NodeRecord:
        """Remove a node and its wires. Returns a record that :meth:`restore_node` takes."""
        attrs = self.graph.nodes[node_id]
        edges = tuple(self.in_edges(node_id) + self.out_edges(node_id))
        record = NodeRecord(node_id, attrs["type"], attrs["name"], dict(attrs["params"]),
                            attrs["pos"], edges)
        for edge in edges:
            self._remove_edge(edge)
            self.edge_removed.emit(edge)
        self.graph.remove_node(node_id)
        self._infer()
        self.node_removed.emit(node_id)
        self.states_changed.emit()
        return record

    def restore_node(self, record: NodeRecord) -> None:
        """Put back a node removed by :meth:`remove_node`, with its wires."""
        self.add_node(record.type, record.params, record.pos, record.id, record.name)
        for edge in record.edges:
            self.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)

    def check_connection(self, src: str, src_port: str, dst: str, dst_port: str) -> None:
        """Raise the :class:`WiringError` that :meth:`connect` would raise, or return."""
        for node in (src, dst):
            if node not in self.graph:
                raise WiringError(f"there is no node {node!r}", node)
        s_spec, d_spec = self.spec(src), self.spec(dst)
        s_name, d_name = self.name(src), self.name(dst)
        s_out, d_in = s_spec.output(src_port), d_spec.input(dst_port)
        if s_out is None and s_spec.input(src_port) is None:
            raise UnknownPortError(f"{s_spec.type} '{s_name}' has no port {src_port!r}", src,
                                   src_port)
        if d_in is None and d_spec.output(dst_port) is None:
            raise UnknownPortError(f"{d_spec.type} '{d_name}' has no port {dst_port!r}", dst,
                                   dst_port)
        ends = f"{s_spec.type} '{s_name}'.{src_port} to {d_spec.type} '{d_name}'.{dst_port}"
        advice = "Drag from an output (right side) to an input (left side)."
        if s_out is not None and d_in is None:
            raise PortKindError(f"Cannot wire {ends}: both are outputs. {advice}", dst, dst_port)
        if s_out is None and d_in is not None:
            raise PortKindError(f"Cannot wire {ends}: both are inputs. {advice}", src, src_port)
        if s_out is None:
            raise PortKindError(f"Cannot wire {ends}: it runs from an input to an output. "
                                f"Wires go the other way: {advice}", src, src_port)
        if s_out.kind != d_in.kind:
            kinds = {"tensor": "a float tensor", "index": "class indices",
                     "scalar": "a scalar loss"}
            raise PortKindError(
                f"{d_spec.type} '{d_name}'.{dst_port} needs {kinds[d_in.kind]}, but "
                f"'{s_name}'.{src_port} carries {kinds[s_out.kind]}.", dst, dst_port)
        taken = self.edge_into(dst, dst_port)
        if taken is not None:
            raise PortTakenError(
                f"{d_spec.type} '{d_name}'.{dst_port} already has a wire from "
                f"'{self.name(taken.src)}'.{taken.src_port}. Remove that wire first.", dst,
                dst_port)
        if src == dst or nx.has_path(self.graph, dst, src):
            raise CycleError(
                f"Wiring '{s_name}' into '{d_name}' would close a cycle: '{d_name}' already "
                f"feeds '{s_name}'. Networks here must be acyclic.", dst, dst_port)

    def connect(self, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
        """Wire ``src.src_port`` (an output) to ``dst.dst_port`` (an input).

        Raises:
            PortKindError: output to output, input to input, or mismatched data kinds.
            PortTakenError: the input already has a wire.
            CycleError: the wire would close a cycle.
            UnknownPortError / WiringError: no such port or node.
        """
        self.check_connection(src, src_port, dst, dst_port)
        edge = Edge(src, src_port, dst, dst_port)
        self.graph.add_edge(src, dst, key=(src_port, dst_port), edge=edge)
        self._infer()
        self.edge_added.emit(edge)
        self.states_changed.emit()
        return edge

    def disconnect(self, edge: Edge) -> None:
        """Remove a wire. Raises KeyError if it is not in the graph."""
        self._remove_edge(edge)
        self._infer()
        self.edge_removed.emit(edge)
        self.states_changed.emit()

    def _remove_edge(self, edge: Edge) -> None:
        if not self.graph.has_edge(edge.src, edge.dst, key=(edge.src_port, edge.dst_port)):
            raise KeyError(f"there is no wire {edge}")
        self.graph.remove_edge(edge.src, edge.dst, key=(edge.src_port, edge.dst_port))

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        """Set a param and return its old value. Raises ParamError on a bad value."""
        spec = self.spec(node_id)
        pspec = spec.param(name)
        if pspec is None:
            raise ParamError(f"{self.name(node_id)}.{name}",
                             f"{spec.type} has no param {name!r}")
        value = pspec.coerce(value, self.name(node_id))
        params = self.graph.nodes[node_id]["params"]
        old = params[name]
        if old == value and type(old) is type(value):
            return old
        params[name] = value
        self._infer()
        self.param_changed.emit(node_id, name, value)
        self.states_changed.emit()
        return old

    def move_node(self, node_id: str, pos: tuple[float, float]) -> None:
        self.graph.nodes[node_id]["pos"] = (float(pos[0]), float(pos[1]))
        self.node_moved.emit(node_id, self.graph.nodes[node_id]["pos"])

    def rename_node(self, node_id: str, name: str) -> str:
        """Set the display name; returns the old one. Raises ValueError if empty."""
        name = name.strip()
        if not name:
            raise ValueError("a node name cannot be empty")
        old = self.graph.nodes[node_id]["name"]
        self.graph.nodes[node_id]["name"] = name
        self._infer()
        self.node_renamed.emit(node_id, name)
        self.states_changed.emit()
        return old

    def clear(self) -> None:
        for node_id in list(self.graph.nodes):
            self.remove_node(node_id)

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict:
        """The graph as the file format's ``graph`` object (plain JSON types)."""
        return {
            "nodes": [{"id": n, "type": a["type"], "name": a["name"], "params": dict(a["params"]),
                       "pos": [round(a["pos"][0], 2), round(a["pos"][1], 2)]}
                      for n, a in self.graph.nodes(data=True)],
            "edges": [{"src": e.src, "src_port": e.src_port, "dst": e.dst,
                       "dst_port": e.dst_port} for e in self.edges()],
        }

    @classmethod
    def from_dict(cls, data: Mapping, registry: Registry = REGISTRY) -> "GraphModel":
        """Build a model from a file's ``graph`` object.

        Raises:
            GraphFormatError: names the field at fault, e.g. ``graph.nodes[2].type``.
        """
        model = cls(registry)
        for i, node in enumerate(data.get("nodes", [])):
            where = f"graph.nodes[{i}]"
            if node.get("type") not in registry:
                raise GraphFormatError(f"{where}.type",
                                       f"{where}.type: unknown node type {node.get('type')!r}; "
                                       f"known types: {', '.join(s.type for s in registry)}")
            if node["id"] in model.graph:
                raise GraphFormatError(f"{where}.id", f"{where}.id: duplicate id {node['id']!r}")
            try:
                model.add_node(node["type"], node.get("params", {}), tuple(node.get("pos", (0, 0))),
                               node["id"], node.get("name"))
            except ParamError as exc:
                raise GraphFormatError(f"{where}.params", f"{where}.params: {exc}") from None
        for i, e in enumerate(data.get("edges", [])):
            try:
                model.connect(e["src"], e["src_port"], e["dst"], e["dst_port"])
            except WiringError as exc:
                raise GraphFormatError(f"graph.edges[{i}]",
                                       f"graph.edges[{i}]: {exc.message}") from None
        return model

    # -- shape inference --------------------------------------------------------------

    def _infer(self) -> None:
        """Recompute every node's :class:`NodeState`. Never raises."""
        states: dict[str, NodeState] = {}
        for node_id in self.topological_order():
            states[node_id] = self._infer_node(node_id, states)
        self._states = states

    def _infer_node(self, node_id: str, states: Mapping[str, NodeState]) -> NodeState:
        spec = self.spec(node_id)
        attrs = self.graph.nodes[node_id]
        inputs: dict[str, Source] = {}
        for edge in self.in_edges(node_id):
            up = states[edge.src]
            if not up.ok:
                return NodeState("blocked", message=f"waiting for '{self.name(edge.src)}', "
                                                    "which has an error")
            up_attrs = self.graph.nodes[edge.src]
            inputs[edge.dst_port] = Source(up.outputs[edge.src_port], up_attrs["name"],
                                           up_attrs["type"], edge.src_port, edge.src,
                                           up.meta.get(edge.src_port))
        try:
            result = spec.infer(attrs["params"], inputs) if spec.infer else {}
        except ShapeError as exc:
            return NodeState("error", message=f"{spec.type} '{attrs['name']}' {exc.message}",
                             fix=exc.fix)
        except Exception as exc:  # a spec bug must not reach the event loop
            return NodeState("error", message=f"{spec.type} '{attrs['name']}': internal error "
                                              f"in shape inference: {exc!r}")
        meta: dict = {}
        if isinstance(result, tuple):
            result, meta = result
        return NodeState("ok", outputs=dict(result), meta=dict(meta))


class GraphFormatError(ValueError):
    """A graph object from a file that cannot be built; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
