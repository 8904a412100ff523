"""Mouse gestures on the canvas, one class per gesture (the orange-canvas-core pattern).

The scene hands its mouse and key events to the active interaction first; an interaction
returns True when it consumed the event and calls :meth:`Interaction.end` when it is done.
Interactions never edit the model directly: they push undo commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from playground.graph import WiringError

from ..commands import ConnectCommand, DisconnectCommand, MoveNodesCommand
from .node_item import NodeItem, PortItem
from .wire_item import WIRE_WIDTH, wire_path

if TYPE_CHECKING:
    from .scene import CanvasScene
    from .view import CanvasView


class Interaction:
    """Base class: a gesture in progress on ``scene``. Handlers return True if consumed."""

    def __init__(self, scene: "CanvasScene"):
        self.scene = scene

    def mouse_press(self, event) -> bool:
        return False

    def mouse_move(self, event) -> bool:
        return False

    def mouse_release(self, event) -> bool:
        return False

    def key_press(self, event) -> bool:
        if event.key() == Qt.Key_Escape:
            self.cancel()
            return True
        return False

    def cancel(self) -> None:
        """Abandon the gesture, leaving the model as it was."""
        self.end()

    def end(self) -> None:
        if self.scene.interaction() is self:
            self.scene.set_interaction(None)


class NewWireInteraction(Interaction):
    """Drag from a port to another port to wire them.

    - From an output: a new wire follows the cursor; release on an input connects.
    - From a free input: the same, backwards; release on an output connects.
    - From an input that has a wire: the wire is picked up (as in Blender). Release on
      another input moves it there, on empty space removes it, on its own port keeps it.

    The model is asked first (``check_connection``). A refused wire leaves the model alone
    and shows the model's message on the node at fault (``scene.show_wiring_error``).
    Release on a node's body snaps to its nearest port of the opposite direction.
    """

    def __init__(self, scene: "CanvasScene", port: PortItem):
        super().__init__(scene)
        model = scene.model
        self.picked = None if port.is_output else model.edge_into(port.node_id, port.name)
        if self.picked is not None:
            self.picked_port = port
            self.fixed = scene.node_item(self.picked.src).port(self.picked.src_port, True)
            scene.wire_item(self.picked).setVisible(False)
        else:
            self.picked_port = None
            self.fixed = port
        self._target: PortItem | None = None
        self.temp = QGraphicsPathItem()
        st = scene.style
        self.temp.setPen(QPen(st.port_color(self.fixed.kind), WIRE_WIDTH, Qt.SolidLine,
                              Qt.RoundCap))
        self.temp.setZValue(10)
        self.temp.setAcceptedMouseButtons(Qt.NoButton)
        scene.addItem(self.temp)
        self._update(self.fixed.scenePos())

    # -- events -------------------------------------------------------------------------

    def mouse_move(self, event) -> bool:
        pos = event.scenePos()
        target = self._target_at(pos)
        if target is not self._target:
            if self._target is not None:
                self._target.set_hot(False)
            if target is not None:
                target.set_hot(True)
            self._target = target
        self._update(target.scenePos() if target is not None else pos)
        return True

    def mouse_release(self, event) -> bool:
        if event.button() != Qt.LeftButton:
            return True
        target = self._target_at(event.scenePos())
        self._finish(target)
        return True

    # -- logic --------------------------------------------------------------------------

    def _target_at(self, pos: QPointF) -> PortItem | None:
        port = self.scene.port_at(pos)
        if port is not None:
            return port
        node = self.scene.node_at(pos)
        if node is None or node is self.fixed.node:
            return None
        want_output = not self.fixed.is_output
        ports = [p for p in node.ports() if p.is_output == want_output] or list(node.ports())
        if not ports:
            return None
        # prefer a free port of the same kind, then the nearest
        model = self.scene.model

        def rank(p: PortItem):
            taken = not p.is_output and model.edge_into(p.node_id, p.name) is not None
            d = p.scenePos() - pos
            return (p.kind != self.fixed.kind, taken, d.x() ** 2 + d.y() ** 2)

        return min(ports, key=rank)

    def _update(self, cursor: QPointF) -> None:
        anchor = self.fixed.scenePos()
        if self.fixed.is_output:
            self.temp.setPath(wire_path(anchor, cursor))
        else:
            self.temp.setPath(wire_path(cursor, anchor))

    def _finish(self, target: PortItem | None) -> None:
        scene, model, stack = self.scene, self.scene.model, self.scene.undo_stack
        picked = self.picked
        if target is None:
            if picked is not None:  # dropped on empty space: the picked-up wire goes
                self._cleanup(show_picked=False)
                stack.push(DisconnectCommand(model, picked))
            else:
                self.cancel()
            return
        if target is self.fixed or target is self.picked_port:
            self.cancel()
            return
        fixed = self.fixed
        if fixed.is_output:
            src, dst = fixed, target
        elif target.is_output:
            src, dst = target, fixed
        else:  # input to input: the model names the problem
            src, dst = fixed, target
        try:
            model.check_connection(src.node_id, src.name, dst.node_id, dst.name)
        except WiringError as err:
            self.cancel()
            scene.show_wiring_error(err.node, err.message)
            return
        self._cleanup(show_picked=False)
        connect = ConnectCommand(model, src.node_id, src.name, dst.node_id, dst.name)
        if picked is None:
            stack.push(connect)
        else:
            stack.beginMacro(f"Reconnect {model.name(src.node_id)} → {model.name(dst.node_id)}")
            stack.push(DisconnectCommand(model, picked))
            stack.push(connect)
            stack.endMacro()

    def _cleanup(self, show_picked: bool) -> None:
        if self._target is not None:
            self._target.set_hot(False)
            self._target = None
        if self.temp.scene() is not None:
            self.scene.removeItem(self.temp)
        if show_picked and self.picked is not None:
            wire = self.scene.wire_item(self.picked)
            if wire is not None:
                wire.setVisible(True)
        self.end()

    def cancel(self) -> None:
        self._cleanup(show_picked=True)


class MoveNodesInteraction(Interaction):
    """Qt drags the selected nodes; on release this pushes one MoveNodesCommand for all of
    them (nothing when they did not move)."""

    def __init__(self, scene: "CanvasScene", nodes: list[NodeItem]):
        super().__init__(scene)
        self.start = {n.node_id: (n.pos().x(), n.pos().y()) for n in nodes}

    def mouse_release(self, event) -> bool:
        self.end()
        moves = {}
        for node_id, old in self.start.items():
            item = self.scene.node_item(node_id)
            if item is None:
                continue
            new = (item.pos().x(), item.pos().y())
            if abs(new[0] - old[0]) > 0.01 or abs(new[1] - old[1]) > 0.01:
                moves[node_id] = (old, new)
        if moves:
            self.scene.undo_stack.push(MoveNodesCommand(self.scene.model, moves))
        return False  # let Qt finish its own release handling

    def cancel(self) -> None:
        for node_id, (x, y) in self.start.items():
            item = self.scene.node_item(node_id)
            if item is not None:
                item.setPos(x, y)
        self.end()


class FrameDragInteraction(Interaction):
    """Drag an open block by its frame's header: every node inside moves with it; release
    pushes one MoveNodesCommand (nothing when it did not move)."""

    def __init__(self, scene: "CanvasScene", group_id: str, pos: QPointF):
        super().__init__(scene)
        self.group_id = group_id
        self.origin = QPointF(pos)
        self.items = [scene.node_item(n) for n in scene.model.group_members(group_id)]
        self.items = [i for i in self.items if i is not None]
        self.start = {i.node_id: (i.pos().x(), i.pos().y()) for i in self.items}
        for item in self.items:
            item.setSelected(True)

    def mouse_move(self, event) -> bool:
        delta = event.scenePos() - self.origin
        for item in self.items:
            x, y = self.start[item.node_id]
            item.setPos(x + delta.x(), y + delta.y())
        return True

    def mouse_release(self, event) -> bool:
        self.end()
        moves = {}
        for item in self.items:
            old, new = self.start[item.node_id], (item.pos().x(), item.pos().y())
            if abs(new[0] - old[0]) > 0.01 or abs(new[1] - old[1]) > 0.01:
                moves[item.node_id] = (old, new)
        if moves:
            self.scene.undo_stack.push(MoveNodesCommand(self.scene.model, moves))
        return True

    def cancel(self) -> None:
        for item in self.items:
            item.setPos(*self.start[item.node_id])
        self.end()


class PanInteraction:
    """Pan the view by dragging (middle button, or left button with space held)."""

    def __init__(self, view: "CanvasView", pos: QPointF):
        self.view = view
        self.last = QPointF(pos)
        view.viewport().setCursor(Qt.ClosedHandCursor)

    def mouse_move(self, pos: QPointF) -> None:
        delta = pos - self.last
        self.last = QPointF(pos)
        self.view.pan_by(-delta.x(), -delta.y())

    def end(self) -> None:
        self.view.viewport().unsetCursor()
