"""Undo commands for graph edits. Each calls only :class:`~playground.graph.GraphModel`
methods; the canvas and the inspector update from the model's events, never from here.

The model raises on a bad edit, and an exception inside ``QUndoStack.push`` would reach the
event loop, so commands that can fail check first: :class:`SetParamCommand` coerces its
value when it is built (raising ``ParamError`` before anything is pushed) and callers check
wires with ``model.check_connection`` before pushing a :class:`ConnectCommand`, groups with
``model.check_group`` and closes with ``model.check_close``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from PySide6.QtGui import QUndoCommand

from playground.graph import Edge, GraphModel, NodeRecord, ParamError

Pos = tuple[float, float]

_SET_PARAM_ID = 0x5E7  # QUndoCommand.id() of SetParamCommand, for merging


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class AddNodeCommand(QUndoCommand):
    """Add a node of ``type_name``. ``node_id`` holds its id after the first redo, and redo
    after undo brings it back under the same id."""

    def __init__(self, model: GraphModel, type_name: str, params: Mapping[str, Any] | None = None,
                 pos: Pos = (0.0, 0.0), node_id: str | None = None, parent=None):
        super().__init__(f"Add {type_name}", parent)
        self.model = model
        self.type_name = type_name
        self.params = dict(params or {})
        self.pos = (float(pos[0]), float(pos[1]))
        self.node_id = node_id

    def redo(self):
        self.node_id = self.model.add_node(self.type_name, self.params, self.pos, self.node_id)

    def undo(self):
        self.model.remove_node(self.node_id)


class RemoveNodesCommand(QUndoCommand):
    """Remove nodes with all their wires; undo restores nodes and wires."""

    def __init__(self, model: GraphModel, node_ids: Iterable[str], parent=None):
        self.model = model
        self.node_ids = list(dict.fromkeys(node_ids))
        names = [model.name(n) for n in self.node_ids]
        text = f"Delete {names[0]}" if len(names) == 1 else f"Delete {len(names)} nodes"
        super().__init__(text, parent)
        self._records: list[NodeRecord] = []

    def redo(self):
        self._records = [self.model.remove_node(n) for n in self.node_ids]

    def undo(self):
        # Reverse order: a wire between two removed nodes is recorded by the first removed,
        # which is restored last, when both ends are back.
        for record in reversed(self._records):
            self.model.restore_node(record)
        self._records = []


class ConnectCommand(QUndoCommand):
    """Wire ``src.src_port`` to ``dst.dst_port``. Check with ``model.check_connection``
    before pushing: the model raises WiringError on a bad wire."""

    def __init__(self, model: GraphModel, src: str, src_port: str, dst: str, dst_port: str,
                 parent=None):
        super().__init__(f"Connect {model.name(src)} → {model.name(dst)}", parent)
        self.model = model
        self.edge = Edge(src, src_port, dst, dst_port)

    def redo(self):
        e = self.edge
        self.edge = self.model.connect(e.src, e.src_port, e.dst, e.dst_port)

    def undo(self):
        self.model.disconnect(self.edge)


class DisconnectCommand(QUndoCommand):
    """Remove one wire; undo puts it back."""

    def __init__(self, model: GraphModel, edge: Edge, parent=None):
        super().__init__(f"Disconnect {model.name(edge.src)} → {model.name(edge.dst)}", parent)
        self.model = model
        self.edge = edge

    def redo(self):
        self.model.disconnect(self.edge)

    def undo(self):
        e = self.edge
        self.model.connect(e.src, e.src_port, e.dst, e.dst_port)


class SetParamCommand(QUndoCommand):
    """Set one param. Consecutive edits of the same param merge into one undo step.

    Raises:
        ParamError: at construction, if the node type has no such param or refuses the value
            (so nothing bad is ever pushed).
    """

    def __init__(self, model: GraphModel, node_id: str, name: str, value: Any, parent=None):
        spec = model.spec(node_id)
        pspec = spec.param(name)
        owner = model.name(node_id)
        if pspec is None:
            raise ParamError(f"{owner}.{name}", f"{spec.type} has no param {name!r}")
        self.model = model
        self.node_id = node_id
        self.name = name
        self.value = pspec.coerce(value, owner)
        self.old = model.params(node_id)[name]
        if model.is_composite(node_id) and getattr(spec, "template", None) is not None:
            # a block's params shape its inside, whose nodes have ranges of their own
            # (DenseBlock in_channels=100000 gives a layer 100032): refuse here, not in redo
            spec.make_subgraph({**model.params(node_id), name: self.value})
        super().__init__(self._text(), parent)
        if self._unchanged():
            self.setObsolete(True)  # nothing to do: QUndoStack.push drops it

    def _unchanged(self) -> bool:
        return self.value == self.old and type(self.value) is type(self.old)

    def _text(self) -> str:
        return f"Set {self.model.name(self.node_id)}.{self.name} = {_fmt(self.value)}"

    def redo(self):
        self.model.set_param(self.node_id, self.name, self.value)

    def undo(self):
        self.model.set_param(self.node_id, self.name, self.old)

    def id(self) -> int:
        return _SET_PARAM_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand) or other.model is not self.model \
                or (other.node_id, other.name) != (self.node_id, self.name):
            return False
        self.value = other.value
        self.setText(self._text())
        if self._unchanged():
            self.setObsolete(True)  # back where it started: the stack drops the step
        return True


class MoveNodesCommand(QUndoCommand):
    """Move nodes: ``moves`` maps node id to ``(old_pos, new_pos)``."""

    def __init__(self, model: GraphModel, moves: Mapping[str, tuple[Pos, Pos]], parent=None):
        self.model = model
        self.moves = {n: (tuple(old), tuple(new)) for n, (old, new) in moves.items()}
        text = f"Move {model.name(next(iter(self.moves)))}" if len(self.moves) == 1 \
            else f"Move {len(self.moves)} nodes"
        super().__init__(text, parent)

    def redo(self):
        for node_id, (_, new) in self.moves.items():
            self.model.move_node(node_id, new)

    def undo(self):
        for node_id, (old, _) in self.moves.items():
            self.model.move_node(node_id, old)


class RenameNodeCommand(QUndoCommand):
    """Change a node's display name. Raises ValueError at construction if it is empty."""

    def __init__(self, model: GraphModel, node_id: str, name: str, parent=None):
        name = name.strip()
        if not name:
            raise ValueError("a node name cannot be empty")
        self.model = model
        self.node_id = node_id
        self.old = model.name(node_id)
        self.new = name
        super().__init__(f"Rename {self.old} → {name}", parent)

    def redo(self):
        self.model.rename_node(self.node_id, self.new)

    def undo(self):
        self.model.rename_node(self.node_id, self.old)


# ------------------------------------------------------------------------------- blocks


class OpenCompositeCommand(QUndoCommand):
    """Open a closed block in place (its inner nodes replace it inside a frame); undo
    closes it again. Check ``model.is_composite`` before pushing."""

    def __init__(self, model: GraphModel, node_id: str, parent=None):
        super().__init__(f"Open {model.name(node_id)}", parent)
        self.model = model
        self.node_id = node_id

    def redo(self):
        self.model.open_composite(self.node_id)

    def undo(self):
        self.model.close_composite(self.node_id)


class CloseCompositeCommand(QUndoCommand):
    """Fold an open block back into one node, closing the blocks open inside it first;
    undo reopens them all. Check with ``model.check_close`` before pushing."""

    def __init__(self, model: GraphModel, group_id: str, parent=None):
        super().__init__(f"Close {model.group_info(group_id).name}", parent)
        self.model = model
        self.group_id = group_id
        order: list[str] = []

        def visit(g: str) -> None:
            for child in model.child_groups(g):
                visit(child)
            order.append(g)

        visit(group_id)
        self.order = order  # innermost first, this group last

    def redo(self):
        for g in self.order:
            self.model.close_composite(g)

    def undo(self):
        for g in reversed(self.order):
            self.model.open_composite(g)


class GroupCommand(QUndoCommand):
    """Fold the given nodes into a new "Group" block. Check with ``model.check_group``
    before pushing. ``node_id`` holds the block's id after the first redo."""

    def __init__(self, model: GraphModel, node_ids: Iterable[str], parent=None):
        self.model = model
        self.node_ids = list(dict.fromkeys(node_ids))
        super().__init__(f"Group {len(self.node_ids)} nodes", parent)
        self.node_id: str | None = None
        self._done = None

    def redo(self):
        self._done = self.model.group_nodes(self.node_ids, node_id=self.node_id)
        self.node_id = self._done.added[0]

    def undo(self):
        self.model.replace_nodes(self._done.added, self._done.removed)


class UngroupCommand(QUndoCommand):
    """Open a closed block for good (its inner nodes take its place); undo folds them back
    into the very same block."""

    def __init__(self, model: GraphModel, node_id: str, parent=None):
        super().__init__(f"Ungroup {model.name(node_id)}", parent)
        self.model = model
        self.node_id = node_id
        self._done = None

    def redo(self):
        self._done = self.model.ungroup(self.node_id)

    def undo(self):
        self.model.replace_nodes(self._done.added, self._done.removed)


class DissolveGroupCommand(QUndoCommand):
    """Keep an open block's nodes and drop its frame (it can no longer be closed); undo
    puts the frame back."""

    def __init__(self, model: GraphModel, group_id: str, parent=None):
        super().__init__(f"Ungroup {model.group_info(group_id).name}", parent)
        self.model = model
        self.group_id = group_id
        self._saved = None

    def redo(self):
        self._saved = self.model.dissolve_group(self.group_id)

    def undo(self):
        self.model.restore_group(*self._saved)


class ArrangeCommand(MoveNodesCommand):
    """Move every node to the automatic layered layout (one undo step)."""

    def __init__(self, model: GraphModel, moves: Mapping[str, tuple[Pos, Pos]], parent=None):
        super().__init__(model, moves, parent)
        self.setText("Arrange")
