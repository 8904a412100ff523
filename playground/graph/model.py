"""GraphModel: what the user drew, on a ``networkx.MultiDiGraph``, with psygnal events.

The graph is the single source of truth. The Qt scene mirrors it through its events and
undo commands call only its methods. Shape inference reruns after every change, from the
edited nodes downstream, so every node always carries a state: its output shapes, or a
message that says what is wrong.

Composite blocks (see :mod:`.composite`) are nodes whose inside is a subgraph kept in the
node's ``subgraph`` attribute. :meth:`GraphModel.open_composite` replaces such a node by its
inner nodes (ids ``"<block id>/<local id>"``) inside an *open group*, which the canvas draws
as a frame; :meth:`GraphModel.close_composite` folds the group back into one node whose
subgraph holds whatever was edited inside.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import networkx as nx
from psygnal import Signal

from .composite import (CompositeError, CompositeSpec, InPort, OutPort, SubNode, Subgraph,
                        is_composite, subgraph_extent)
from .layout import FRAME_HEADER, FRAME_PAD, estimate_size
from .spec import REGISTRY, NodeSpec, ParamError, PortSpec, Registry, Shape, ShapeError, Source


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

    ``inputs`` holds the shapes wired into the node, by port. For a closed block, ``inner``
    holds the states of the nodes inside it, by local id.
    """

    status: str = "ok"
    outputs: dict[str, Shape] = field(default_factory=dict)
    meta: dict[str, dict] = field(default_factory=dict)
    message: str = ""
    fix: tuple[str, Any] | None = None
    inputs: dict[str, Shape] = field(default_factory=dict)
    inner: dict[str, "NodeState"] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class NodeRecord:
    """Everything needed to put a removed node back: used by undo.

    ``edges`` are all the node's wires at removal; ``order`` its place in the node order;
    ``subgraph`` a block's inside; ``group`` the open group it belonged to.
    """

    id: str
    type: str
    name: str
    params: dict
    pos: tuple[float, float]
    edges: tuple[Edge, ...]
    subgraph: Subgraph | None = None
    order: tuple | None = None
    group: str | None = None


@dataclass(frozen=True)
class GroupInfo:
    """An open block: the nodes it was opened into and what it folds back into.

    Attributes:
        id: the block's node id (free while it is open; closing gives it back).
        type, name, params, pos, order: the block node's, as when it was opened.
        members: the nodes directly inside (blocks opened inside it are child groups).
        parent: the open group this one lies in, or None.
        inputs / outputs: the block's port maps, with member ids as targets and sources.
        shifts: ``(node_id, dx, dy)`` moves that made room for it; closing moves them back.
    """

    id: str
    type: str
    name: str
    params: dict
    pos: tuple[float, float]
    order: tuple
    members: tuple[str, ...]
    parent: str | None
    inputs: tuple[InPort, ...]
    outputs: tuple[OutPort, ...]
    shifts: tuple[tuple[str, float, float], ...] = ()

    def to_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "name": self.name,
                "params": dict(self.params), "pos": [round(self.pos[0], 2), round(self.pos[1], 2)],
                "members": list(self.members), "parent": self.parent,
                "inputs": [{"name": p.name, "kind": p.kind, "doc": p.doc,
                            "targets": [list(t) for t in p.targets]} for p in self.inputs],
                "outputs": [{"name": p.name, "kind": p.kind, "doc": p.doc,
                             "source": list(p.source)} for p in self.outputs],
                "shifts": [[n, dx, dy] for n, dx, dy in self.shifts]}


@dataclass(frozen=True)
class Replacement:
    """What :meth:`GraphModel.replace_nodes` (and group/ungroup) did: the ids it added and
    the records of the nodes it removed. ``replace_nodes(r.added, r.removed)`` undoes it."""

    added: tuple[str, ...]
    removed: tuple[NodeRecord, ...]


# ----------------------------------------------------------------------------------- model


class GraphModel:
    """The user's network. Node ids are stable strings (``"linear_1"``).

    Events (psygnal):
        node_added(node_id), node_removed(node_id), edge_added(Edge), edge_removed(Edge),
        param_changed(node_id, name, value), node_moved(node_id, (x, y)),
        node_renamed(node_id, name), states_changed() after each shape inference,
        group_opened(group_id) after a block opened (its members exist),
        group_closed(group_id) before a block closes (its members still exist),
        group_changed(group_id) when an open group's members change.
    """

    node_added = Signal(str)
    node_removed = Signal(str)
    edge_added = Signal(object)
    edge_removed = Signal(object)
    param_changed = Signal(str, str, object)
    node_moved = Signal(str, object)
    node_renamed = Signal(str, str)
    states_changed = Signal()
    group_opened = Signal(str)
    group_closed = Signal(str)
    group_changed = Signal(str)

    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry
        self.graph = nx.MultiDiGraph()
        self._states: dict[str, NodeState] = {}
        self._order = itertools.count()
        self._topo: list[str] | None = None
        self._groups: dict[str, GroupInfo] = {}
        # subgraphs replaced by a block's param change, so that undoing it gives them back
        self._replaced: dict[tuple, Subgraph] = {}

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
        """Read-only view of a node's attributes: type, name, params, pos (and, for a block,
        subgraph; for a node inside an open block, group)."""
        return self.graph.nodes[node_id]

    def params(self, node_id: str) -> dict[str, Any]:
        return dict(self.graph.nodes[node_id]["params"])

    def name(self, node_id: str) -> str:
        return self.graph.nodes[node_id]["name"]

    def is_composite(self, node_id: str) -> bool:
        return self.graph.nodes[node_id].get("subgraph") is not None

    def subgraph(self, node_id: str) -> Subgraph | None:
        """A closed block's inside (None for other nodes)."""
        return self.graph.nodes[node_id].get("subgraph")

    def input_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        """The node's input ports: its spec's, or a block instance's own."""
        sub = self.graph.nodes[node_id].get("subgraph")
        return sub.input_specs() if sub is not None else self.spec(node_id).inputs

    def output_ports(self, node_id: str) -> tuple[PortSpec, ...]:
        sub = self.graph.nodes[node_id].get("subgraph")
        return sub.output_specs() if sub is not None else self.spec(node_id).outputs

    def input_port(self, node_id: str, name: str) -> PortSpec | None:
        return next((p for p in self.input_ports(node_id) if p.name == name), None)

    def output_port(self, node_id: str, name: str) -> PortSpec | None:
        return next((p for p in self.output_ports(node_id) if p.name == name), None)

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
        if self._topo is None:
            rank = {n: self.graph.nodes[n]["order"] for n in self.graph}
            self._topo = list(nx.lexicographical_topological_sort(self.graph,
                                                                  key=rank.__getitem__))
        return list(self._topo)

    def estimate_size(self, node_id: str) -> tuple[float, float]:
        """The node's approximate size on the canvas (for layouts without a canvas)."""
        return estimate_size(self.spec(node_id), self.graph.nodes[node_id]["params"],
                             self.input_ports(node_id), self.output_ports(node_id),
                             self.name(node_id))

    # -- open groups --------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Ids of the open groups, in the order they were opened."""
        return list(self._groups)

    def group_info(self, group_id: str) -> GroupInfo:
        return self._groups[group_id]

    def group_of(self, node_id: str) -> str | None:
        """The open group a node lies directly in, or None."""
        return self.graph.nodes[node_id].get("group")

    def group_members(self, group_id: str, recursive: bool = True) -> list[str]:
        """The nodes inside an open group (with those of the groups opened inside it)."""
        out = [m for m in self._groups[group_id].members if m in self.graph]
        if recursive:
            for g, info in self._groups.items():
                if info.parent == group_id:
                    out.extend(self.group_members(g))
        return out

    def child_groups(self, group_id: str | None) -> list[str]:
        return [g for g, info in self._groups.items() if info.parent == group_id]

    # -- edits ------------------------------------------------------------------------

    def new_id(self, type_name: str) -> str:
        spec = self.registry[type_name] if type_name in self.registry else None
        stem = getattr(spec, "id_stem", "") or \
            re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type_name).lower()
        for k in itertools.count(1):
            if f"{stem}_{k}" not in self.graph and f"{stem}_{k}" not in self._groups:
                return f"{stem}_{k}"

    def add_node(self, type_name: str, params: Mapping[str, Any] | None = None,
                 pos: tuple[float, float] = (0.0, 0.0), node_id: str | None = None,
                 name: str | None = None, subgraph: Subgraph | None = None) -> str:
        """Add a node and return its id. A block gets a fresh inside from its template
        unless ``subgraph`` is given.

        Raises:
            KeyError: unknown ``type_name`` (the message lists the known types).
            ParamError: a param is unknown or out of range (the message names it).
            ValueError: ``node_id`` is already taken.
        """
        spec = self.registry[type_name]
        node_id = node_id or self.new_id(type_name)
        if node_id in self.graph or node_id in self._groups:
            raise ValueError(f"node id {node_id!r} is already taken")
        values = spec.validate_params(params or {}, owner=name or node_id)
        if is_composite(spec) and subgraph is None:
            subgraph = spec.make_subgraph(values)
        record = NodeRecord(node_id, type_name, name or node_id, values, pos, (), subgraph)
        self._apply(add=[record])
        return node_id

    def _record(self, node_id: str) -> NodeRecord:
        attrs = self.graph.nodes[node_id]
        edges = tuple(self.in_edges(node_id) + self.out_edges(node_id))
        return NodeRecord(node_id, attrs["type"], attrs["name"], dict(attrs["params"]),
                          attrs["pos"], edges, attrs.get("subgraph"), attrs["order"],
                          attrs.get("group"))

    def remove_node(self, node_id: str) -> NodeRecord:
        """Remove a node and its wires. Returns a record that :meth:`restore_node` takes."""
        record = self._record(node_id)
        self._apply(remove=[node_id])
        return record

    def restore_node(self, record: NodeRecord) -> None:
        """Put back a node removed by :meth:`remove_node`, with its wires (those whose
        other end exists)."""
        self._apply(add=[record], edges=record.edges, check=True)

    def replace_nodes(self, remove: Iterable[str], add: Iterable[NodeRecord]) -> Replacement:
        """Remove nodes (with their wires) and add others (with those of their recorded
        wires whose ends exist afterwards), as one edit with one shape inference.

        ``replace_nodes(r.added, r.removed)`` undoes the returned Replacement ``r``.

        Raises:
            WiringError: a recorded wire is refused; nothing is changed.
        """
        remove = list(dict.fromkeys(remove))
        add = list(add)
        records = tuple(self._record(n) for n in remove)
        edges = [e for r in add for e in r.edges]
        self._apply(remove=remove, add=add, edges=edges, check=True)
        return Replacement(tuple(r.id for r in add), records)

    def check_connection(self, src: str, src_port: str, dst: str, dst_port: str) -> None:
        """Raise the :class:`WiringError` that :meth:`connect` would raise, or return."""
        for node in (src, dst):
            if node not in self.graph:
                raise WiringError(f"there is no node {node!r}", node)
        s_spec, d_spec = self.spec(src), self.spec(dst)
        s_name, d_name = self.name(src), self.name(dst)
        s_out, d_in = self.output_port(src, src_port), self.input_port(dst, dst_port)
        if s_out is None and self.input_port(src, src_port) is None:
            raise UnknownPortError(f"{s_spec.type} '{s_name}' has no port {src_port!r}", src,
                                   src_port)
        if d_in is None and self.output_port(dst, dst_port) is None:
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
                f"{d_spec.type} '{d_name}'.{dst_port} needs {kinds.get(d_in.kind, d_in.kind)}, "
                f"but '{s_name}'.{src_port} carries {kinds.get(s_out.kind, s_out.kind)}.",
                dst, dst_port)
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
        self._apply(edges=[edge])
        return edge

    def disconnect(self, edge: Edge) -> None:
        """Remove a wire. Raises KeyError if it is not in the graph."""
        if not self.graph.has_edge(edge.src, edge.dst, key=(edge.src_port, edge.dst_port)):
            raise KeyError(f"there is no wire {edge}")
        self._apply(remove_edges=[edge])

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        """Set a param and return its old value. Raises ParamError on a bad value.

        A block's params shape its inside: a new value gives it a fresh inside from its
        template (or, when the params go back to earlier values, the inside it had then, so
        undo restores edits made inside).
        """
        spec = self.spec(node_id)
        pspec = spec.param(name)
        if pspec is None:
            raise ParamError(f"{self.name(node_id)}.{name}",
                             f"{spec.type} has no param {name!r}")
        value = pspec.coerce(value, self.name(node_id))
        attrs = self.graph.nodes[node_id]
        params = attrs["params"]
        old = params[name]
        if old == value and type(old) is type(value):
            return old
        if attrs.get("subgraph") is not None and isinstance(spec, CompositeSpec) \
                and spec.template is not None:
            self._replaced[(node_id, _key(params))] = attrs["subgraph"]
            new = dict(params, **{name: value})
            attrs["subgraph"] = self._replaced.pop((node_id, _key(new)), None) or \
                spec.make_subgraph(new)
        params[name] = value
        self._infer({node_id})
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
        self._infer({node_id, *self.graph.successors(node_id)})  # messages name it
        self.node_renamed.emit(node_id, name)
        self.states_changed.emit()
        return old

    def clear(self) -> None:
        for group_id in reversed(list(self._groups)):
            self.group_closed.emit(group_id)
        self._groups.clear()
        self._apply(remove=list(self.graph.nodes))
        self._replaced.clear()

    # -- the one primitive edit -----------------------------------------------------------

    def _apply(self, remove: Iterable[str] = (), add: Iterable[NodeRecord] = (),
               edges: Iterable[Edge] = (), remove_edges: Iterable[Edge] = (),
               moves: Mapping[str, tuple] | None = None, check: bool = False,
               before=None, after=None) -> None:
        """Remove nodes (with their wires) and wires, add nodes and wires, move nodes; then
        infer the affected nodes once and emit the events (removals first).

        With ``check``, wires whose ends do not both exist are skipped and the rest are
        checked as :meth:`connect` does; a refused one restores the graph and raises.
        ``before`` / ``after`` run just before / after the node and wire events.
        """
        g = self.graph
        remove = [n for n in remove if n in g]
        gone_edges: list[Edge] = []
        seen = set()
        for edge in list(remove_edges) + [e for n in remove
                                           for e in self.in_edges(n) + self.out_edges(n)]:
            if edge not in seen:
                seen.add(edge)
                gone_edges.append(edge)
        dirty = {e.dst for e in gone_edges}
        saved = (g.copy(), {k: v for k, v in self._groups.items()}) if check else None
        for e in gone_edges:
            g.remove_edge(e.src, e.dst, key=(e.src_port, e.dst_port))
        left = {g.nodes[n].get("group") for n in remove} - {None}
        for n in remove:
            group = g.nodes[n].get("group")
            if group in self._groups:
                info = self._groups[group]
                self._groups[group] = replace(info, members=tuple(m for m in info.members
                                                                  if m != n))
            g.remove_node(n)
            self._states.pop(n, None)
        added = []
        for r in add:
            if r.id in g:
                raise ValueError(f"node id {r.id!r} is already taken")
            self.registry[r.type]  # KeyError for an unknown type
            order = r.order if r.order is not None else (next(self._order),)
            g.add_node(r.id, type=r.type, name=r.name, params=dict(r.params),
                       pos=(float(r.pos[0]), float(r.pos[1])), order=order)
            if r.subgraph is not None:
                g.nodes[r.id]["subgraph"] = r.subgraph
            if r.group is not None and r.group in self._groups:
                g.nodes[r.id]["group"] = r.group
                info = self._groups[r.group]
                if r.id not in info.members:
                    members = sorted(info.members + (r.id,),
                                     key=lambda m: g.nodes[m]["order"] if m in g else ())
                    self._groups[r.group] = replace(info, members=tuple(members))
            added.append(r.id)
        self._topo = None
        new_edges: list[Edge] = []
        seen = set()
        for e in edges:
            if e in seen or (check and (e.src not in g or e.dst not in g)):
                continue
            seen.add(e)
            if check:
                try:
                    self.check_connection(e.src, e.src_port, e.dst, e.dst_port)
                except WiringError:
                    self.graph, self._groups = saved
                    self._topo = None
                    self._infer()
                    raise
            g.add_edge(e.src, e.dst, key=(e.src_port, e.dst_port), edge=e)
            new_edges.append(e)
            dirty.add(e.dst)
        self._topo = None
        for n, pos in (moves or {}).items():
            g.nodes[n]["pos"] = (float(pos[0]), float(pos[1]))
        dirty.update(added)
        self._infer(dirty)
        if before is not None:
            before()
        for e in gone_edges:
            self.edge_removed.emit(e)
        for n in remove:
            self.node_removed.emit(n)
        for n in added:
            self.node_added.emit(n)
        for e in new_edges:
            self.edge_added.emit(e)
        for n in (moves or {}):
            self.node_moved.emit(n, g.nodes[n]["pos"])
        changed = ({g.nodes[n].get("group") for n in added} | left) - {None}
        if after is not None:
            after()
        for group in changed:
            if group in self._groups:
                self.group_changed.emit(group)
        self.states_changed.emit()

    # -- blocks: open, close, group, ungroup ----------------------------------------------

    def _expand(self, node_id: str, ids: Mapping[str, str], offset: tuple[float, float],
                group: str | None) -> tuple[list[NodeRecord], list[Edge]]:
        """Records for a block's inner nodes (local id -> ``ids[local]``) and every wire
        that replaces the block's (inner wires and the outer wires, re-ended)."""
        attrs = self.graph.nodes[node_id]
        sub: Subgraph = attrs["subgraph"]
        x, y = attrs["pos"]
        records = [NodeRecord(ids[n.id], n.type, n.name, dict(n.params),
                              (x + offset[0] + n.pos[0], y + offset[1] + n.pos[1]), (),
                              n.subgraph, attrs["order"] + (k,), group)
                   for k, n in enumerate(sub.nodes)]
        edges = [Edge(ids[s], sp, ids[d], dp) for s, sp, d, dp in sub.edges]
        for e in self.in_edges(node_id):
            port = sub.input(e.dst_port)
            for local, p in (port.targets if port else ()):
                edges.append(Edge(e.src, e.src_port, ids[local], p))
        for e in self.out_edges(node_id):
            port = sub.output(e.src_port)
            if port is not None:
                edges.append(Edge(ids[port.source[0]], port.source[1], e.dst, e.dst_port))
        return records, edges

    def open_composite(self, node_id: str) -> str:
        """Replace a closed block by its inner nodes, ids ``"<node_id>/<local id>"``, in an
        open group whose id is ``node_id``. Nodes to the right of (and below) the block move
        to make room; closing moves them back. Returns the group id.

        Raises:
            CompositeError: the node is not a block, or an inner id is taken.
        """
        attrs = self.graph.nodes[node_id]
        sub = attrs.get("subgraph")
        if sub is None:
            raise CompositeError(f"{attrs['type']} '{attrs['name']}' is not a block; only "
                                 "blocks open")
        ids = {n.id: f"{node_id}/{n.id}" for n in sub.nodes}
        taken = [i for i in ids.values() if i in self.graph]
        if taken:
            raise CompositeError(f"cannot open '{attrs['name']}': the id {taken[0]!r} is taken")
        records, edges = self._expand(node_id, ids, (FRAME_PAD, FRAME_HEADER), node_id)
        x, y = attrs["pos"]
        w, h = subgraph_extent(sub, self.registry)
        w0, h0 = self.estimate_size(node_id)
        dx = float(round(max(0.0, w + 2 * FRAME_PAD - w0 + 20)))
        dy = float(round(max(0.0, h + FRAME_HEADER + FRAME_PAD - h0 + 20)))
        shifts, moves = [], {}
        for n, a in self.graph.nodes(data=True):
            if n == node_id:
                continue
            nx_, ny_ = a["pos"]
            if nx_ > x + 1 and dx:
                shifts.append((n, dx, 0.0))
                moves[n] = (nx_ + dx, ny_)
            elif ny_ > y + 1 and nx_ < x + w + 2 * FRAME_PAD and \
                    nx_ + self.estimate_size(n)[0] > x and dy:
                shifts.append((n, 0.0, dy))
                moves[n] = (nx_, ny_ + dy)
        parent = attrs.get("group")
        info = GroupInfo(
            node_id, attrs["type"], attrs["name"], dict(attrs["params"]), attrs["pos"],
            attrs["order"], tuple(r.id for r in records), parent,
            tuple(replace(p, targets=tuple((ids[l], q) for l, q in p.targets))
                  for p in sub.inputs),
            tuple(replace(p, source=(ids[p.source[0]], p.source[1])) for p in sub.outputs),
            tuple(shifts))
        members = tuple(r.id for r in records)
        self._groups[node_id] = replace(info, members=())
        try:
            self._apply(remove=[node_id], add=records, edges=edges, moves=moves,
                        after=lambda: self._opened(node_id, members, parent))
        except Exception:
            self._groups.pop(node_id, None)
            raise
        return node_id

    def _opened(self, group_id: str, members, parent) -> None:
        self._groups[group_id] = replace(self._groups[group_id], members=tuple(members))
        self.group_opened.emit(group_id)
        if parent is not None:
            self.group_changed.emit(parent)

    def close_composite(self, group_id: str) -> str:
        """Fold an open group back into one block node (id ``group_id``) whose inside is the
        group's members as they are now. Returns the node id.

        Raises:
            CompositeError: a block opened inside it is still open, it is empty, or a wire
                leaves it and comes back through an outside node (closing would close a
                cycle).
        """
        info = self._groups[group_id]
        inner = self.child_groups(group_id)
        if inner:
            raise CompositeError(f"close '{self._groups[inner[0]].name}' first: it is open "
                                 f"inside '{info.name}'")
        members = sorted((m for m in info.members if m in self.graph),
                         key=lambda m: self.graph.nodes[m]["order"])
        if not members:
            raise CompositeError(f"'{info.name}' has no nodes left inside")
        record, ports_edges = self._fold(group_id, members, info, info.parent)
        moves = {}
        for n, dx, dy in info.shifts:
            if n in self.graph and n not in members:
                px, py = self.graph.nodes[n]["pos"]
                moves[n] = (px - dx, py - dy)

        def closing():
            self._groups.pop(group_id, None)
            self.group_closed.emit(group_id)

        self._apply(remove=members, add=[replace(record, edges=())], edges=ports_edges,
                    moves=moves, before=closing)
        return group_id

    def _fold(self, node_id: str, members: list[str], info: GroupInfo | None,
              parent: str | None) -> tuple[NodeRecord, list[Edge]]:
        """The block node that ``members`` fold into, and its outer wires.

        Port maps: the group's own (``info``) where they still apply; every other wire that
        crosses the boundary gets a new port (one per outside source, one per inside
        output).
        """
        g = self.graph
        mset = set(members)
        self._check_foldable(members, info.name if info else node_id)
        strip = f"{node_id}/"
        parent_strip = f"{parent}/" if parent else ""
        locals_: dict[str, str] = {}
        for m in members:
            local = m[len(strip):] if m.startswith(strip) else \
                m[len(parent_strip):] if parent_strip and m.startswith(parent_strip) else m
            if info is None:
                local = local.replace("/", "_")
            base, k = local, 2
            while local in locals_.values():
                local, k = f"{base}_{k}", k + 1
            locals_[m] = local
        xs = [g.nodes[m]["pos"][0] for m in members]
        ys = [g.nodes[m]["pos"][1] for m in members]
        off = (FRAME_PAD, FRAME_HEADER) if info is not None else (0.0, 0.0)
        ox, oy = min(xs), min(ys)
        nodes = tuple(SubNode(locals_[m], g.nodes[m]["type"], g.nodes[m]["name"],
                              dict(g.nodes[m]["params"]),
                              (round(g.nodes[m]["pos"][0] - ox, 2),
                               round(g.nodes[m]["pos"][1] - oy, 2)),
                              g.nodes[m].get("subgraph"))
                      for m in members)
        inner_edges, ins, outs = [], [], []
        for m in members:
            for e in self.in_edges(m):
                if e.src in mset:
                    inner_edges.append((locals_[e.src], e.src_port, locals_[m], e.dst_port))
                else:
                    ins.append(e)
            for e in self.out_edges(m):
                if e.dst not in mset:
                    outs.append(e)
        # inputs: the group's own ports first (each keeps the outside source that feeds
        # its targets), then one new port per other outside source
        stored = list(info.inputs) if info else []
        in_ports: list[list] = []  # [name, kind, doc, targets, source or None]
        owner: dict[tuple[str, str], int] = {}
        for p in stored:
            targets = [t for t in p.targets if t[0] in mset and
                       not any(e.src in mset and e.dst_port == t[1] for e in self.in_edges(t[0]))]
            in_ports.append([p.name, p.kind, p.doc, targets, None])
            for t in targets:
                owner[t] = len(in_ports) - 1
        names = {p.name for p in stored}
        new_edges: list[Edge] = []
        rest = []
        for e in ins:
            t, src = (e.dst, e.dst_port), (e.src, e.src_port)
            i = owner.get(t)
            if i is None or in_ports[i][4] not in (None, src):
                if i is not None:
                    in_ports[i][3].remove(t)
                rest.append(e)
                continue
            if in_ports[i][4] is None:
                in_ports[i][4] = src
                new_edges.append(Edge(e.src, e.src_port, node_id, in_ports[i][0]))
        for e in rest:
            t, src = (e.dst, e.dst_port), (e.src, e.src_port)
            i = next((k for k, p in enumerate(in_ports) if p[4] == src), None)
            if i is None:
                spec_port = self.input_port(e.dst, e.dst_port)
                name = _fresh(e.dst_port, names)
                names.add(name)
                in_ports.append([name, spec_port.kind if spec_port else "tensor",
                                 spec_port.doc if spec_port else "", [], src])
                i = len(in_ports) - 1
                new_edges.append(Edge(e.src, e.src_port, node_id, name))
            in_ports[i][3].append(t)
        inputs = tuple(InPort(name, tuple((locals_[m], q) for m, q in targets), kind, doc)
                       for name, kind, doc, targets, _ in in_ports)
        # outputs
        names = set()
        out_ports: list[OutPort] = []
        for p in (info.outputs if info else ()):
            if p.source[0] in mset:
                out_ports.append(p)
                names.add(p.name)
        for e in outs:
            src = (e.src, e.src_port)
            port = next((p for p in out_ports if p.source == src), None)
            if port is None:
                spec_port = self.output_port(e.src, e.src_port)
                port = OutPort(_fresh(e.src_port, names), src,
                               spec_port.kind if spec_port else "tensor",
                               spec_port.doc if spec_port else "")
                names.add(port.name)
                out_ports.append(port)
            new_edges.append(Edge(node_id, port.name, e.dst, e.dst_port))
        outputs = tuple(replace(p, source=(locals_[p.source[0]], p.source[1]))
                        for p in out_ports)
        sub = Subgraph(nodes, tuple(inner_edges), inputs, outputs)
        if info is not None:
            record = NodeRecord(node_id, info.type, info.name, dict(info.params),
                                (ox - off[0], oy - off[1]), (), sub, info.order, parent)
        else:
            record = NodeRecord(node_id, "Group", node_id, {}, (ox, oy), (), sub, None,
                                parent)
        return record, new_edges

    def _check_foldable(self, members: list[str], what: str) -> None:
        mset = set(members)
        down = set()
        for m in members:
            for e in self.out_edges(m):
                if e.dst not in mset:
                    down.add(e.dst)
                    down |= nx.descendants(self.graph, e.dst)
        back = [n for n in down - mset if any(e.dst in mset for e in self.out_edges(n))]
        if back:
            raise CompositeError(
                f"cannot fold '{what}' into one node: '{self.name(back[0])}' is outside it but "
                f"takes an output from inside and feeds back in, which would close a cycle. "
                f"Move '{self.name(back[0])}' inside, or rewire it.")

    def check_group(self, node_ids: Iterable[str]) -> list[str]:
        """Raise the CompositeError that :meth:`group_nodes` would raise, or return the ids
        in node order."""
        ids = sorted(dict.fromkeys(node_ids), key=lambda n: self.graph.nodes[n]["order"])
        if not ids:
            raise CompositeError("select the nodes to group first")
        for n in ids:
            spec = self.spec(n)
            if spec.build is None and not is_composite(spec):
                raise CompositeError(f"{spec.type} '{self.name(n)}' feeds data from outside "
                                     "and stays outside groups; select the nodes after it")
        if len({self.group_of(n) for n in ids}) > 1:
            raise CompositeError("the selection spans different open blocks; group nodes of "
                                 "one block at a time")
        self._check_foldable(ids, "the selection")
        return ids

    def check_close(self, group_id: str) -> None:
        """Raise the CompositeError that closing ``group_id`` (with the blocks open inside
        it first) would raise, or return."""
        for child in self.child_groups(group_id):
            self.check_close(child)
        info = self._groups[group_id]
        members = [m for m in self.group_members(group_id) if m in self.graph]
        if not members:
            raise CompositeError(f"'{info.name}' has no nodes left inside")
        self._check_foldable(members, info.name)

    def group_nodes(self, node_ids: Iterable[str], node_id: str | None = None,
                    name: str | None = None) -> Replacement:
        """Fold the given nodes into a new closed "Group" block whose ports are the wires
        that cross the selection's boundary. Returns the Replacement (its ``added`` holds
        the block's id); ``replace_nodes(r.added, r.removed)`` undoes it.

        The grouped nodes get new ids inside the block, so their weights start afresh.

        Raises:
            CompositeError: no nodes, a data source among them (sources stay outside), nodes
                from different open blocks, or an outside node between two of them.
        """
        ids = self.check_group(node_ids)
        parent = self.group_of(ids[0])
        node_id = node_id or self.new_id("Group")
        record, edges = self._fold(node_id, ids, None, parent)
        record = replace(record, name=name or node_id, edges=tuple(edges))
        return self.replace_nodes(ids, [record])

    def ungroup(self, node_id: str) -> Replacement:
        """Open a closed block for good: its inner nodes take its place, with their local
        ids where those are free (else ``"<node_id>/<local id>"``). Returns the Replacement;
        ``replace_nodes(r.added, r.removed)`` undoes it.

        Raises:
            CompositeError: the node is not a block.
        """
        attrs = self.graph.nodes[node_id]
        sub = attrs.get("subgraph")
        if sub is None:
            raise CompositeError(f"{attrs['type']} '{attrs['name']}' is not a block")
        ids: dict[str, str] = {}
        for n in sub.nodes:
            for candidate in (n.id, f"{node_id}/{n.id}"):
                if candidate not in self.graph and candidate not in self._groups and \
                        candidate not in ids.values():
                    break
            else:
                candidate = _fresh(f"{node_id}/{n.id}", set(self.graph) | set(ids.values()))
            ids[n.id] = candidate
        records, edges = self._expand(node_id, ids, (0.0, 0.0), attrs.get("group"))
        by_id = {r.id: r for r in records}
        for e in edges:  # every wire goes with the records (restored when both ends exist)
            r = by_id.get(e.dst) or by_id.get(e.src)
            by_id[r.id] = replace(r, edges=r.edges + (e,))
        return self.replace_nodes([node_id], [by_id[r.id] for r in records])

    def dissolve_group(self, group_id: str) -> tuple[GroupInfo, tuple[str, ...]]:
        """Keep an open block open for good: its members become ordinary nodes (of the
        enclosing group, if any). Returns ``(info, child groups)`` for
        :meth:`restore_group`."""
        info = self._groups.pop(group_id)
        self.group_closed.emit(group_id)
        members = tuple(m for m in info.members if m in self.graph)
        for m in members:
            if info.parent is None:
                self.graph.nodes[m].pop("group", None)
            else:
                self.graph.nodes[m]["group"] = info.parent
        children = tuple(g for g, c in self._groups.items() if c.parent == group_id)
        for g in children:
            self._groups[g] = replace(self._groups[g], parent=info.parent)
        if info.parent is not None:
            p = self._groups[info.parent]
            self._groups[info.parent] = replace(p, members=p.members + members)
            self.group_changed.emit(info.parent)
        return info, children

    def restore_group(self, info: GroupInfo, children: Iterable[str] = ()) -> None:
        """Undo :meth:`dissolve_group`."""
        members = set(info.members)
        if info.parent is not None:
            p = self._groups[info.parent]
            self._groups[info.parent] = replace(p, members=tuple(
                m for m in p.members if m not in members))
        for g in children:
            self._groups[g] = replace(self._groups[g], parent=info.id)
        for m in info.members:
            if m in self.graph:
                self.graph.nodes[m]["group"] = info.id
        self._groups[info.id] = info
        self.group_opened.emit(info.id)
        if info.parent is not None:
            self.group_changed.emit(info.parent)

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict:
        """The graph as the file format's ``graph`` object (plain JSON types).

        Nodes are listed in their order, wires by their ends' order. A block carries its
        inside as ``subgraph``; open blocks are listed under ``groups``.
        """
        g = self.graph
        order = {n: a["order"] for n, a in g.nodes(data=True)}
        nodes = []
        for n in sorted(g.nodes, key=order.__getitem__):
            a = g.nodes[n]
            d = {"id": n, "type": a["type"], "name": a["name"], "params": dict(a["params"]),
                 "pos": [round(a["pos"][0], 2), round(a["pos"][1], 2)]}
            if a.get("subgraph") is not None:
                d["subgraph"] = a["subgraph"].to_dict()
            nodes.append(d)
        edges = sorted(self.edges(), key=lambda e: (order[e.src], e.src_port, order[e.dst],
                                                    e.dst_port))
        out = {"nodes": nodes,
               "edges": [{"src": e.src, "src_port": e.src_port, "dst": e.dst,
                          "dst_port": e.dst_port} for e in edges]}
        if self._groups:
            out["groups"] = [self._groups[k].to_dict() for k in self._groups]
        return out

    @classmethod
    def from_dict(cls, data: Mapping, registry: Registry = REGISTRY) -> "GraphModel":
        """Build a model from a file's ``graph`` object.

        Raises:
            GraphFormatError: names the field at fault, e.g. ``graph.nodes[2].type``.
        """
        model = cls(registry)
        model.load(data)
        return model

    def load(self, data: Mapping) -> None:
        """Replace everything with a file's ``graph`` object, as one edit (one shape
        inference). Checks everything first: on a GraphFormatError (which names the field)
        the model is left as it was."""
        records, edges, groups = self._read(data)
        probe = GraphModel(self.registry)
        probe._groups = {g.id: g for g in groups}
        for r in records:  # wiring checks on a scratch graph, without events or inference
            probe.graph.add_node(r.id, type=r.type, name=r.name, params=r.params, pos=r.pos,
                                 order=r.order, **({"subgraph": r.subgraph}
                                                   if r.subgraph is not None else {}))
        for i, e in enumerate(edges):
            try:
                probe.check_connection(e.src, e.src_port, e.dst, e.dst_port)
            except WiringError as exc:
                raise GraphFormatError(f"graph.edges[{i}]",
                                       f"graph.edges[{i}]: {exc.message}") from None
            probe.graph.add_edge(e.src, e.dst, key=(e.src_port, e.dst_port), edge=e)
        self.clear()
        self._order = itertools.count(len(records))
        self._groups = {g.id: replace(g, members=()) for g in groups}
        self._apply(add=records, edges=edges)
        for g in groups:
            self._groups[g.id] = g
            self.group_opened.emit(g.id)
        if groups:
            self.states_changed.emit()

    def _read(self, data: Mapping) -> tuple[list[NodeRecord], list[Edge], list[GroupInfo]]:
        registry = self.registry
        records: list[NodeRecord] = []
        ids = set()
        group_of: dict[str, str] = {}
        groups = []
        for i, gdata in enumerate(data.get("groups", []) or []):
            where = f"graph.groups[{i}]"
            try:
                gid = str(gdata["id"])
                ins = Subgraph.from_dict({"nodes": [{"id": m, "type": "?"}
                                                    for m in gdata.get("members", [])],
                                          "inputs": gdata.get("inputs", []),
                                          "outputs": gdata.get("outputs", [])}, where)
                pos = gdata.get("pos", [0, 0])
                groups.append(GroupInfo(
                    gid, str(gdata["type"]), str(gdata.get("name", gid)),
                    dict(gdata.get("params", {})), (float(pos[0]), float(pos[1])), (),
                    tuple(str(m) for m in gdata.get("members", [])), gdata.get("parent"),
                    ins.inputs, ins.outputs,
                    tuple((str(n), float(dx), float(dy)) for n, dx, dy in
                          gdata.get("shifts", []))))
            except (KeyError, TypeError, ValueError) as exc:
                msg = exc.message if isinstance(exc, CompositeError) else str(exc)
                raise GraphFormatError(where, f"{where}: {msg}") from None
            if groups[-1].type not in registry:
                raise GraphFormatError(f"{where}.type",
                                       f"{where}.type: unknown block type {groups[-1].type!r}")
            for m in groups[-1].members:
                group_of[m] = gid
        for i, node in enumerate(data.get("nodes", [])):
            where = f"graph.nodes[{i}]"
            if node.get("type") not in registry:
                raise GraphFormatError(f"{where}.type",
                                       f"{where}.type: unknown node type {node.get('type')!r}; "
                                       f"known types: {', '.join(s.type for s in registry)}")
            if node["id"] in ids:
                raise GraphFormatError(f"{where}.id", f"{where}.id: duplicate id {node['id']!r}")
            ids.add(node["id"])
            spec = registry[node["type"]]
            try:
                params = spec.validate_params(node.get("params", {}),
                                              owner=node.get("name") or node["id"])
            except ParamError as exc:
                raise GraphFormatError(f"{where}.params", f"{where}.params: {exc}") from None
            sub = None
            if is_composite(spec):
                raw = node.get("subgraph")
                sub = spec.make_subgraph(params) if raw is None else \
                    self._read_subgraph(raw, f"{where}.subgraph")
            elif node.get("subgraph") is not None:
                raise GraphFormatError(f"{where}.subgraph",
                                       f"{where}.subgraph: {spec.type} is not a block")
            pos = node.get("pos", (0, 0))
            records.append(NodeRecord(node["id"], node["type"], node.get("name") or node["id"],
                                      params, (float(pos[0]), float(pos[1])), (), sub, (i,),
                                      group_of.get(node["id"])))
        first = {}
        for r in records:
            if r.group is not None:
                first.setdefault(r.group, r.order)
        groups = [replace(g, order=first.get(g.id, (len(records),))) for g in groups]
        edges = []
        for i, e in enumerate(data.get("edges", [])):
            try:
                edges.append(Edge(e["src"], e["src_port"], e["dst"], e["dst_port"]))
            except (KeyError, TypeError):
                raise GraphFormatError(f"graph.edges[{i}]",
                                       f"graph.edges[{i}] needs src, src_port, dst and "
                                       "dst_port") from None
            for k in ("src", "dst"):
                if getattr(edges[-1], k) not in ids:
                    raise GraphFormatError(f"graph.edges[{i}].{k}",
                                           f"graph.edges[{i}].{k}: there is no node "
                                           f"{getattr(edges[-1], k)!r}")
        return records, edges, groups

    def _read_subgraph(self, raw: Any, where: str) -> Subgraph:
        """A block's inside from a file, with every inner type, param and port checked."""
        try:
            sub = Subgraph.from_dict(raw, where)
        except CompositeError as exc:
            raise GraphFormatError(where, exc.message) from None
        nodes = []
        for i, n in enumerate(sub.nodes):
            at = f"{where}.nodes[{i}]"
            if n.type not in self.registry:
                raise GraphFormatError(f"{at}.type", f"{at}.type: unknown node type {n.type!r}")
            spec = self.registry[n.type]
            try:
                params = spec.validate_params(n.params, owner=n.name)
            except ParamError as exc:
                raise GraphFormatError(f"{at}.params", f"{at}.params: {exc}") from None
            inner = n.subgraph
            if is_composite(spec):
                inner = spec.make_subgraph(params) if raw["nodes"][i].get("subgraph") is None \
                    else self._read_subgraph(raw["nodes"][i]["subgraph"], f"{at}.subgraph")
            nodes.append(replace(n, params=params, subgraph=inner))
        sub = replace(sub, nodes=tuple(nodes))
        ports = {}
        for n in sub.nodes:
            spec = self.registry[n.type]
            ins = n.subgraph.input_specs() if n.subgraph else spec.inputs
            outs = n.subgraph.output_specs() if n.subgraph else spec.outputs
            ports[n.id] = ({p.name for p in ins}, {p.name for p in outs})
        for i, (s, sp, d, dp) in enumerate(sub.edges):
            if sp not in ports[s][1] or dp not in ports[d][0]:
                raise GraphFormatError(f"{where}.edges[{i}]",
                                       f"{where}.edges[{i}]: no port {s}.{sp} -> {d}.{dp}")
        for p in sub.inputs:
            for local, q in p.targets:
                if q not in ports[local][0]:
                    raise GraphFormatError(f"{where}.inputs",
                                           f"{where}.inputs: {local} has no input {q!r}")
        for p in sub.outputs:
            if p.source[1] not in ports[p.source[0]][1]:
                raise GraphFormatError(f"{where}.outputs",
                                       f"{where}.outputs: {p.source[0]} has no output "
                                       f"{p.source[1]!r}")
        try:
            sub.order()
        except CompositeError as exc:
            raise GraphFormatError(where, f"{where}: {exc.message}") from None
        return sub

    # -- shape inference --------------------------------------------------------------

    def _infer(self, dirty: Iterable[str] | None = None) -> None:
        """Recompute the :class:`NodeState` of the ``dirty`` nodes (all nodes when None) and
        of the nodes downstream whose inputs changed; a state equal to the old one keeps
        the old object and stops the wave there. Never raises."""
        order = self.topological_order()
        if dirty is None:
            self._states = {}
            for node_id in order:
                self._states[node_id] = self._infer_node(node_id, self._states)
            return
        dirty = {n for n in dirty if n in self.graph}
        affected: set[str] = set()
        stack = list(dirty)
        while stack:
            n = stack.pop()
            if n not in affected:
                affected.add(n)
                stack.extend(self.graph.successors(n))
        changed: set[str] = set()
        for node_id in order:
            if node_id not in affected:
                continue
            if node_id not in dirty and not any(p in changed
                                                for p in self.graph.predecessors(node_id)):
                continue  # its inputs are as they were: so is its state
            old = self._states.get(node_id)
            new = self._infer_node(node_id, self._states)
            if new != old:  # an equal state keeps its object, so views can skip it
                self._states[node_id] = new
                changed.add(node_id)

    def _infer_node(self, node_id: str, states: Mapping[str, NodeState]) -> NodeState:
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
        return self.infer_one(attrs["type"], attrs["name"], attrs["params"],
                              attrs.get("subgraph"), inputs)

    def infer_one(self, type_name: str, name: str, params: Mapping[str, Any],
                  subgraph: Subgraph | None, inputs: Mapping[str, Source]) -> NodeState:
        """Shape inference for one node given its inputs (a block: through its inside)."""
        spec = self.registry[type_name]
        shapes = {p: s.shape for p, s in inputs.items()}
        if subgraph is not None:
            return self._infer_block(spec, name, params, subgraph, inputs)
        try:
            result = spec.infer(params, inputs) if spec.infer else {}
        except ShapeError as exc:
            return NodeState("error", message=f"{spec.type} '{name}' {exc.message}",
                             fix=exc.fix, inputs=shapes)
        except Exception as exc:  # a spec bug must not reach the event loop
            return NodeState("error", message=f"{spec.type} '{name}': internal error "
                                              f"in shape inference: {exc!r}", inputs=shapes)
        meta: dict = {}
        if isinstance(result, tuple):
            result, meta = result
        return NodeState("ok", outputs=dict(result), meta=dict(meta), inputs=shapes)

    def _infer_block(self, spec: NodeSpec, name: str, params: Mapping[str, Any],
                     sub: Subgraph, inputs: Mapping[str, Source]) -> NodeState:
        """Infer a closed block's inside with the shapes wired into it. Its outputs are the
        mapped inner outputs; an error inside names the inner node:
        ``ResNetBasicBlock 'block1': Conv2d 'conv1' expects ...``."""
        shapes = {p: s.shape for p, s in inputs.items()}
        feeds: dict[tuple[str, str], Source] = {}
        unwired: dict[tuple[str, str], InPort] = {}
        for port in sub.inputs:
            src = inputs.get(port.name)
            for t in port.targets:
                if src is not None:
                    feeds[t] = src
                else:
                    unwired[t] = port
        into: dict[str, list] = {n.id: [] for n in sub.nodes}
        for s, sp, d, dp in sub.edges:
            into[d].append((dp, s, sp))
        nodes = {n.id: n for n in sub.nodes}
        inner: dict[str, NodeState] = {}
        error: tuple[str, NodeState] | None = None
        for local in sub.order():
            n = nodes[local]
            ins: dict[str, Source] = {}
            blocked = None
            for dp, s, sp in into[local]:
                up = inner[s]
                if not up.ok:
                    blocked = s
                    break
                ins[dp] = Source(up.outputs[sp], nodes[s].name, nodes[s].type, sp, s,
                                 up.meta.get(sp))
            if blocked is not None:
                inner[local] = NodeState("blocked", message=f"waiting for "
                                                            f"'{nodes[blocked].name}'")
                continue
            for (l, p), src in feeds.items():
                if l == local:
                    ins[p] = src
            state = self.infer_one(n.type, n.name, n.params, n.subgraph, ins)
            inner[local] = state
            if state.status == "error" and error is None:
                error = (local, state)
        if error is not None:
            local, state = error
            missing = [p for (l, q), p in unwired.items() if l == local and q not in
                       {dp for dp, _, _ in into[local]}]
            if missing and "nothing wired" in state.message:
                port = missing[0]
                what = f": connect {port.doc}" if port.doc else ""
                message = f"{spec.type} '{name}' has nothing wired into its '{port.name}' " \
                          f"port{what}."
                return NodeState("error", message=message, inputs=shapes, inner=inner)
            fix = state.fix if state.fix and spec.param(state.fix[0]) is not None and \
                any(t[0] == local for p in sub.inputs for t in p.targets) else None
            return NodeState("error", message=f"{spec.type} '{name}': {state.message}",
                             fix=fix, inputs=shapes, inner=inner)
        outputs, meta = {}, {}
        for port in sub.outputs:
            st = inner[port.source[0]]
            outputs[port.name] = st.outputs[port.source[1]]
            if port.source[1] in st.meta:
                meta[port.name] = st.meta[port.source[1]]
        return NodeState("ok", outputs=outputs, meta=meta, inputs=shapes, inner=inner)


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _fresh(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


class GraphFormatError(ValueError):
    """A graph object from a file that cannot be built; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
