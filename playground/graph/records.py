"""The value types and typed errors of :class:`~playground.graph.model.GraphModel`:
wires, node states, the records undo keeps, open groups, and the errors edits raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .composite import InPort, OutPort, Subgraph
from .spec import Shape


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


class GraphFormatError(ValueError):
    """A graph object from a file that cannot be built; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
