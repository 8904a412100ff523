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
from dataclasses import replace
from typing import Any, Iterable, Mapping

import networkx as nx
from psygnal import Signal

from .composite import CompositeSpec, Subgraph, is_composite
from .groups import GroupEdits
from .inference import ShapeInference
from .layout import estimate_size
from .records import (CycleError, Edge, GraphFormatError, GroupInfo, NodeRecord, NodeState,
                      PortKindError, PortTakenError, Replacement, UnknownPortError,
                      WiringError)
from .serialize import GraphFile
from .spec import REGISTRY, NodeSpec, ParamError, PortSpec, Registry

__all__ = ["CycleError", "Edge", "GraphFormatError", "GraphModel", "GroupInfo", "NodeRecord",
           "NodeState", "PortKindError", "PortTakenError", "Replacement", "UnknownPortError",
           "WiringError"]


# ----------------------------------------------------------------------------------- model


class GraphModel(GroupEdits, GraphFile, ShapeInference):
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
        # what each close replaced, so that undoing it reopens the block exactly
        self._closures: dict[str, Any] = {}
        self._dissolved: dict[str, int] = {}  # a dissolved group's place, for its undo

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
        # An id that heads another's path ("mha_1" of a dissolved block's "mha_1/q_proj")
        # is taken too: opening the new block would need those inner ids.
        heads = {i.split("/", 1)[0] for i in itertools.chain(self.graph, self._groups)
                 if "/" in i}
        for k in itertools.count(1):
            cand = f"{stem}_{k}"
            if cand not in self.graph and cand not in self._groups and cand not in heads:
                return cand

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

    def reinfer(self, node_ids: Iterable[str]) -> None:
        """Infer these nodes' states again (and downstream) without an edit, for a change
        outside the graph: a data node's file fixed or replaced on disk. Emits
        ``states_changed``."""
        self._infer(set(node_ids))
        self.states_changed.emit()

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
        self._closures.clear()

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


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))
