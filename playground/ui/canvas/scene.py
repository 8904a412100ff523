"""CanvasScene: the Qt mirror of a GraphModel.

The scene changes only in response to the model's psygnal events (node_added -> a NodeItem,
edge_added -> a WireItem, states_changed -> shapes and errors, ...). User gestures become
undo commands pushed on the undo stack (see :mod:`.interactions`), which edit the model,
whose events then update the scene. psygnal calls back synchronously on the emitting thread;
the model is only edited on the GUI thread.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from playground.graph import CompositeError, Edge, GraphModel
from playground.graph.layout import FRAME_HEADER, FRAME_PAD

from ..commands import CloseCompositeCommand, OpenCompositeCommand
from ..theme import Theme, current_theme
from .frame_item import GroupFrameItem
from .interactions import (FrameDragInteraction, Interaction, MoveNodesInteraction,
                           NewWireInteraction)
from .node_item import NodeItem, PortItem
from .style import CanvasStyle
from .wire_item import WireItem

GRID = 24.0
GRID_MAJOR_EVERY = 5
SCENE_EXTENT = 50_000.0


class CanvasScene(QGraphicsScene):
    """Items for every node and wire of ``model``; gestures push onto ``undo_stack``.

    Signals:
        message(str): a message for the status bar (e.g. why a wire was refused).
    """

    message = Signal(str)

    def __init__(self, model: GraphModel, undo_stack: QUndoStack, theme: Theme | None = None,
                 parent=None):
        super().__init__(parent)
        self.model = model
        self.undo_stack = undo_stack
        self.style = CanvasStyle(theme or current_theme())
        self._nodes: dict[str, NodeItem] = {}
        self._wires: dict[Edge, WireItem] = {}
        self._frames: dict[str, GroupFrameItem] = {}
        self._interaction: Interaction | None = None
        self._attached = False
        self.setSceneRect(-SCENE_EXTENT, -SCENE_EXTENT, 2 * SCENE_EXTENT, 2 * SCENE_EXTENT)
        self.setItemIndexMethod(QGraphicsScene.NoIndex)  # few items, many moves
        self.attach()
        # if Qt deletes the scene without detach() (its view was deleted), stop listening
        signals = self._signals()

        def _on_destroyed(*_):
            for signal, slot in signals:
                signal.disconnect(slot, missing_ok=True)

        self.destroyed.connect(_on_destroyed)

    # -- model connection ---------------------------------------------------------------

    def _signals(self):
        m = self.model
        return ((m.node_added, self._on_node_added), (m.node_removed, self._on_node_removed),
                (m.edge_added, self._on_edge_added), (m.edge_removed, self._on_edge_removed),
                (m.states_changed, self._on_states_changed), (m.node_moved, self._on_node_moved),
                (m.param_changed, self._on_param_changed),
                (m.node_renamed, self._on_node_renamed),
                (m.group_opened, self._on_group_opened), (m.group_closed, self._on_group_closed),
                (m.group_changed, self._on_group_changed))

    def attach(self) -> None:
        """Subscribe to the model and build items for what it holds (done by __init__)."""
        if self._attached:
            return
        for signal, slot in self._signals():
            signal.connect(slot)
        self._attached = True
        for node_id in self.model.nodes():
            self._on_node_added(node_id)
        for edge in self.model.edges():
            self._on_edge_added(edge)
        for group_id in self.model.groups():
            self._on_group_opened(group_id)

    def detach(self) -> None:
        """Unsubscribe from the model and drop all items (call before the scene goes)."""
        if not self._attached:
            return
        self.set_interaction(None)
        for signal, slot in self._signals():
            signal.disconnect(slot)
        self._attached = False
        for group_id in list(self._frames):
            self._on_group_closed(group_id)
        for edge in list(self._wires):
            self._on_edge_removed(edge)
        for node_id in list(self._nodes):
            self._on_node_removed(node_id)

    # -- queries ------------------------------------------------------------------------

    def node_item(self, node_id: str) -> NodeItem | None:
        return self._nodes.get(node_id)

    def wire_item(self, edge: Edge) -> WireItem | None:
        return self._wires.get(edge)

    def node_items(self) -> list[NodeItem]:
        return list(self._nodes.values())

    def wire_items(self) -> list[WireItem]:
        return list(self._wires.values())

    def frame_item(self, group_id: str) -> GroupFrameItem | None:
        """The frame drawn around the open block ``group_id``."""
        return self._frames.get(group_id)

    def frame_items(self) -> list[GroupFrameItem]:
        return list(self._frames.values())

    def port_scene_pos(self, node_id: str, port_name: str, output: bool) -> QPointF:
        """Scene position of a port's centre. Raises KeyError for an unknown node or port."""
        return self._nodes[node_id].port_scene_pos(port_name, output)

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos, Qt.IntersectsItemShape, Qt.DescendingOrder):
            if isinstance(item, PortItem):
                return item
        return None

    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos, Qt.IntersectsItemShape, Qt.DescendingOrder):
            if isinstance(item, NodeItem):
                return item
            if isinstance(item, PortItem):
                return item.node
        return None

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, WireItem)]

    def items_rect(self) -> QRectF:
        """Bounding rect of the nodes and frames (empty when there are none)."""
        rect = QRectF()
        for item in self._nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        for frame in self._frames.values():
            if frame.isVisible():
                rect = rect.united(frame.rect())
        return rect

    def block_button_at(self, pos: QPointF) -> tuple[str, str] | None:
        """What block control is at scene ``pos``: ``("open", node_id)`` (a closed block's
        button), ``("close", group_id)`` or ``("header", group_id)`` (an open block's
        frame), or None. Inner frames win over outer ones."""
        node = self.node_at(pos)
        if node is not None:
            if node.is_block and node.open_button_rect().contains(node.mapFromScene(pos)):
                return ("open", node.node_id)
            return None
        for frame in sorted(self._frames.values(), key=lambda f: -f.depth):
            hit = frame.hit(pos)
            if hit is not None:
                return (hit, frame.group_id)
        return None

    # -- blocks -------------------------------------------------------------------------

    def open_block(self, node_id: str) -> bool:
        """Open a closed block in place (undoable). Returns whether it opened."""
        if node_id not in self.model or not self.model.is_composite(node_id):
            return False
        self.cancel_interaction()
        self.undo_stack.push(OpenCompositeCommand(self.model, node_id))
        return True

    def close_block(self, group_id: str) -> bool:
        """Close an open block (and the blocks open inside it), undoably; a block that
        cannot close says why in ``message``. Returns whether it closed."""
        try:
            self.model.check_close(group_id)
        except CompositeError as exc:
            self.message.emit(exc.message)
            return False
        self.cancel_interaction()
        self.undo_stack.push(CloseCompositeCommand(self.model, group_id))
        return True

    def node_geometry_changed(self, node_id: str) -> None:
        """A node moved or changed size: refit the frames around it."""
        if not self._frames or node_id not in self.model:
            return
        group = self.model.group_of(node_id)
        while group is not None:
            self.update_frame(group)
            group = self.model.group_info(group).parent if group in self.model.groups() \
                else None

    def update_frame(self, group_id: str) -> None:
        """Fit the frame of ``group_id`` around its members and the frames inside it."""
        frame = self._frames.get(group_id)
        if frame is None:
            return
        rect = QRectF()
        for member in self.model.group_info(group_id).members:
            item = self._nodes.get(member)
            if item is not None:
                rect = rect.united(item.mapRectToScene(item.body_rect()))
        for child in self.model.child_groups(group_id):
            inner = self._frames.get(child)
            if inner is not None and inner.isVisible():
                rect = rect.united(inner.rect())
        if not rect.isEmpty():
            rect = rect.adjusted(-FRAME_PAD, -FRAME_HEADER, FRAME_PAD, FRAME_PAD)
        frame.set_rect(rect)

    def _update_frame_and_parents(self, group_id: str | None) -> None:
        groups = self.model.groups()
        while group_id is not None and group_id in groups:
            self.update_frame(group_id)
            group_id = self.model.group_info(group_id).parent

    # -- errors shown on nodes ----------------------------------------------------------

    def show_wiring_error(self, node_id: str, message: str) -> None:
        """Mark ``node_id`` red with ``message`` until the next successful edit, and emit
        ``message`` for the status bar."""
        item = self._nodes.get(node_id)
        if item is not None:
            item.set_wiring_error(message)
        self.message.emit(message)

    def clear_wiring_errors(self) -> None:
        for item in self._nodes.values():
            item.set_wiring_error("")

    # -- model events -------------------------------------------------------------------

    def _on_node_added(self, node_id: str) -> None:
        item = NodeItem(self.model, node_id, self.style)
        self._nodes[node_id] = item
        self.addItem(item)

    def _on_node_removed(self, node_id: str) -> None:
        item = self._nodes.pop(node_id, None)
        if item is not None:
            if isinstance(self._interaction, NewWireInteraction) and \
                    self._interaction.fixed.node is item:
                self._interaction.cancel()
            self.removeItem(item)

    def _on_edge_added(self, edge: Edge) -> None:
        wire = WireItem(edge, self._nodes[edge.src], self._nodes[edge.dst], self.style)
        self._wires[edge] = wire
        self.addItem(wire)

    def _on_edge_removed(self, edge: Edge) -> None:
        wire = self._wires.pop(edge, None)
        if wire is not None:
            wire.detach()
            self.removeItem(wire)

    def _on_states_changed(self) -> None:
        # A successful edit: rejected-wire messages have served their purpose. Only items
        # whose state changed are laid out again (the model keeps an unchanged state's
        # object), so an edit costs what it touches, not the size of the graph.
        model = self.model
        for item in self._nodes.values():
            if item._wiring_error or model.state(item.node_id) is not item.shown_state:
                item._wiring_error = ""
                item.refresh()
        for wire in self._wires.values():
            e = wire.edge
            if model.state(e.src) is not wire.shown_states[0] or \
                    model.state(e.dst) is not wire.shown_states[1]:
                wire.refresh()

    def _on_node_moved(self, node_id: str, pos) -> None:
        item = self._nodes.get(node_id)
        if item is not None and (item.pos().x(), item.pos().y()) != tuple(pos):
            item.setPos(pos[0], pos[1])

    def _on_param_changed(self, node_id: str, name: str, value) -> None:
        item = self._nodes.get(node_id)
        if item is not None:
            item.refresh()

    def _on_node_renamed(self, node_id: str, name: str) -> None:
        self._on_param_changed(node_id, "", name)

    def _on_group_opened(self, group_id: str) -> None:
        depth, info = 0, self.model.group_info(group_id)
        while info.parent is not None:
            depth += 1
            info = self.model.group_info(info.parent)
        frame = GroupFrameItem(self.model, group_id, self.style, depth)
        self._frames[group_id] = frame
        self.addItem(frame)
        self._update_frame_and_parents(group_id)

    def _on_group_closed(self, group_id: str) -> None:
        frame = self._frames.pop(group_id, None)
        if frame is not None:
            self.removeItem(frame)

    def _on_group_changed(self, group_id: str) -> None:
        if group_id in self._frames:
            self._update_frame_and_parents(group_id)

    # -- stepping and gradient health ---------------------------------------------------

    def shown_node_item(self, node_id: str | None) -> NodeItem | None:
        """The item that shows the compiled node ``node_id``: its own, or for a node inside
        a closed block (``"block1/conv1"``) the block's."""
        while node_id and node_id not in self._nodes and "/" in node_id:
            node_id = node_id.rsplit("/", 1)[0]
        return self._nodes.get(node_id) if node_id else None

    def edge_for_wire(self, wire) -> Edge | None:
        """The canvas wire that shows the compiled wire ``(src, src_port, dst, dst_port)``:
        the same edge when both ends are shown, else the edge between the blocks that show
        them (None when both ends sit inside the same closed block)."""
        src, sport, dst, dport = wire
        edge = Edge(src, sport, dst, dport)
        if edge in self._wires:
            return edge
        s_item, d_item = self.shown_node_item(src), self.shown_node_item(dst)
        if s_item is None or d_item is None or s_item is d_item:
            return None
        best = None
        for w in s_item.wires:
            e = w.edge
            if e.src != s_item.node_id or e.dst != d_item.node_id:
                continue
            if (e.src != src or e.src_port == sport) and (e.dst != dst or e.dst_port == dport):
                return e
            best = best or e
        return best

    def set_step(self, node_id: str | None, wires=(), backward: bool = False) -> None:
        """Make the stepped node ``node_id`` (a compiled id) and the ``wires`` its tensors
        or gradients travel on glow, and nothing else; None clears."""
        target = self.shown_node_item(node_id)
        for item in self._nodes.values():
            item.set_highlight(item is target, backward)
        lit = {self.edge_for_wire(w) for w in wires} - {None}
        for edge, item in self._wires.items():
            item.set_highlight(edge in lit, backward)

    def stepped_node(self) -> str | None:
        """The id of the glowing node's item, or None."""
        return next((n for n, i in self._nodes.items() if i.is_highlighted()), None)

    def highlighted_edges(self) -> list[Edge]:
        return [e for e, w in self._wires.items() if w.is_highlighted()]

    def set_health(self, health) -> None:
        """Show a :class:`playground.session.health.Health` on the canvas: every wire's
        colour and width by its gradient norm, and badges on nodes with dead or saturated
        units (a closed block takes those of the nodes inside it). None clears the
        overlay."""
        norms: dict[Edge, float] = {}
        badges: dict[str, list[tuple[str, str]]] = {}
        if health is not None:
            for wire, norm in health.wires.items():
                edge = self.edge_for_wire(wire)
                if edge is not None:  # a block's several inner wires: the largest
                    norms[edge] = max(norm, norms.get(edge, 0.0))
            for node_id, h in health.nodes.items():
                item = self.shown_node_item(node_id)
                if item is None:
                    continue
                where = "" if item.node_id == node_id else f" ({node_id})"
                if h.dead:
                    badges.setdefault(item.node_id, []).append(
                        ("dead", f"{h.dead:.0%} of units dead{where}: zero for the whole "
                                 "batch, so no gradient reaches their weights"))
                if h.saturated:
                    badges.setdefault(item.node_id, []).append(
                        ("saturated", f"{h.saturated:.0%} of outputs saturated{where}: "
                                      "within 1% of the bounds, where the slope is near 0"))
        for edge, item in self._wires.items():
            item.set_health(norms.get(edge), overlay=health is not None)
        for node_id, item in self._nodes.items():
            item.set_badges(badges.get(node_id, []))

    # -- theme ----------------------------------------------------------------------------

    def set_theme(self, theme: Theme) -> None:
        self.style = CanvasStyle(theme)
        for item in self._nodes.values():
            item.set_style(self.style)
        for wire in self._wires.values():
            wire.set_style(self.style)
        for frame in self._frames.values():
            frame.set_style(self.style)
        self.update()

    # -- interactions -----------------------------------------------------------------

    def interaction(self) -> Interaction | None:
        return self._interaction

    def set_interaction(self, interaction: Interaction | None) -> None:
        """Make ``interaction`` the active gesture (None ends the current one)."""
        self._interaction = interaction

    def cancel_interaction(self) -> None:
        if self._interaction is not None:
            self._interaction.cancel()

    def mousePressEvent(self, event):
        if self._interaction is not None and self._interaction.mouse_press(event):
            event.accept()
            return
        if event.button() == Qt.LeftButton:
            hit = self.block_button_at(event.scenePos())
            if hit is not None and hit[0] == "open" and self._drawn_far(hit[1], event):
                hit = None  # zoomed out the button is not drawn: a click selects the block
            if hit is not None:
                kind, target = hit
                if kind == "open":
                    self.open_block(target)
                elif kind == "close":
                    self.close_block(target)
                else:  # the frame's header: drag the whole block
                    self.cancel_interaction()
                    self.clearSelection()
                    self.set_interaction(FrameDragInteraction(self, target, event.scenePos()))
                event.accept()
                return
            port = self.port_at(event.scenePos())
            if port is not None:
                self.cancel_interaction()
                self.set_interaction(NewWireInteraction(self, port))
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton and self.node_at(event.scenePos()) is not None:
            nodes = [i for i in self.selectedItems() if isinstance(i, NodeItem)]
            if nodes:
                self.set_interaction(MoveNodesInteraction(self, nodes))

    def _drawn_far(self, node_id: str, event) -> bool:
        """True when the view the mouse ``event`` came from draws ``node_id`` in its
        far-away form."""
        widget = event.widget()
        view = widget.parent() if widget is not None else None
        item = self.node_item(node_id)
        return isinstance(view, QGraphicsView) and item is not None and item.is_far(view)

    def mouseMoveEvent(self, event):
        if self._interaction is not None and self._interaction.mouse_move(event):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._interaction is not None and self._interaction.mouse_release(event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event):
        if event.button() == Qt.LeftButton:
            pos = event.scenePos()
            hit = self.block_button_at(pos)
            if hit is not None and hit[0] == "header":
                self.close_block(hit[1])
                event.accept()
                return
            node = self.node_at(pos)
            if node is not None and node.is_block and self.port_at(pos) is None:
                self.open_block(node.node_id)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event):
        if self._interaction is not None and self._interaction.key_press(event):
            event.accept()
            return
        super().keyPressEvent(event)

    # -- background -----------------------------------------------------------------------

    def drawBackground(self, painter, rect: QRectF):
        st = self.style
        painter.fillRect(rect, st.background)
        scale = painter.worldTransform().m11()
        step = GRID
        while step * scale < 9:  # keep lines at least ~9 px apart when zoomed out
            step *= GRID_MAJOR_EVERY
        major = step * GRID_MAJOR_EVERY
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor_lines, major_lines = [], []
        x = left
        while x < rect.right():
            line = QLineF(x, rect.top(), x, rect.bottom())
            (major_lines if abs(math.remainder(x, major)) < 1e-6 else minor_lines).append(line)
            x += step
        y = top
        while y < rect.bottom():
            line = QLineF(rect.left(), y, rect.right(), y)
            (major_lines if abs(math.remainder(y, major)) < 1e-6 else minor_lines).append(line)
            y += step
        painter.setPen(st.grid_minor_pen)
        painter.drawLines(minor_lines)
        painter.setPen(st.grid_major_pen)
        painter.drawLines(major_lines)
