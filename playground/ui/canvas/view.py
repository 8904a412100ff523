"""CanvasView: the node editor widget. Zoom with the wheel (around the cursor), pan with the
middle button or space+drag, rubber-band select with the left button on empty space,
Delete/Backspace to delete, drop node types from the palette, double-click to quick-add."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QUndoStack
from PySide6.QtWidgets import QFrame, QGraphicsView, QMenu

from playground.graph import CompositeError, GraphModel, layout

from ..commands import (AddNodeCommand, ArrangeCommand, DisconnectCommand,
                        DissolveGroupCommand, GroupCommand, RemoveNodesCommand, UngroupCommand)
from .frame_item import GroupFrameItem
from ..theme import Theme, current_theme
from .interactions import PanInteraction
from .scene import CanvasScene
from .style import HEADER_HEIGHT, NODE_MIN_WIDTH

#: MIME type of a node type dragged from the palette; the data is the type name (utf-8).
NODE_MIME = "application/x-playground-node"

MIN_ZOOM = 0.15
MAX_ZOOM = 3.0
#: Zoom to fit leaves this many pixels free around the graph, at any zoom.
FIT_MARGIN = 24
#: Zoom to fit never zooms in past 100 %: a small graph is shown at its natural size.
FIT_MAX_ZOOM = 1.0


class CanvasView(QGraphicsView):
    """A view of ``model`` that edits it through ``undo_stack``.

    Signals:
        selected_node_changed(str): the id of the single selected node, "" for none/several.
        message(str): text for the status bar (e.g. why a wire was refused).
    """

    selected_node_changed = Signal(str)
    message = Signal(str)

    def __init__(self, model: GraphModel, undo_stack: QUndoStack, parent=None):
        super().__init__(parent)
        self.undo_stack = undo_stack
        self._theme = current_theme()
        self._scene: CanvasScene | None = None
        self._selected = ""
        self._pan: PanInteraction | None = None
        self._space = False
        #: Fit the graph again when the view is resized, until the user zooms or pans.
        self._auto_fit = True
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing
                            | QPainter.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheBackground)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.set_model(model)

    # -- model and scene ----------------------------------------------------------------

    @property
    def canvas_scene(self) -> CanvasScene:
        return self._scene

    @property
    def model(self) -> GraphModel:
        return self._scene.model

    def set_model(self, model: GraphModel) -> None:
        """Show another model (the old scene is detached and dropped)."""
        old = self._scene
        if old is not None:
            old.detach()
            old.selectionChanged.disconnect(self._on_selection_changed)
            old.message.disconnect(self.message)
        self._scene = CanvasScene(model, self.undo_stack, self._theme, self)
        self._scene.selectionChanged.connect(self._on_selection_changed)
        self._scene.message.connect(self.message)
        self.setScene(self._scene)
        if old is not None:
            old.deleteLater()
        self._on_selection_changed()
        self.zoom_to_fit()

    def detach(self) -> None:
        """Stop following the model (called on close)."""
        if self._scene is not None:
            self._scene.detach()

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._scene.set_theme(theme)
        self.resetCachedContent()
        self.viewport().update()

    # -- editing ----------------------------------------------------------------------

    def add_node_at(self, type_name: str, scene_pos: QPointF) -> str | None:
        """Add a node of ``type_name`` centred under ``scene_pos`` (undoable) and select it.
        Returns its id, or None (with a ``message``) for an unknown type."""
        model = self.model
        if type_name not in model.registry:
            self.message.emit(f"Unknown node type {type_name!r}")
            return None
        pos = (round(scene_pos.x() - NODE_MIN_WIDTH / 2), round(scene_pos.y() - HEADER_HEIGHT / 2))
        cmd = AddNodeCommand(model, type_name, pos=pos)
        self.undo_stack.push(cmd)
        item = self._scene.node_item(cmd.node_id)
        if item is not None:
            self._scene.clearSelection()
            item.setSelected(True)
        self.setFocus()
        return cmd.node_id

    def delete_selected(self) -> None:
        """Delete the selected nodes (with their wires) and the selected wires, as one
        undo step."""
        scene, model, stack = self._scene, self.model, self.undo_stack
        scene.cancel_interaction()
        nodes = scene.selected_node_ids()
        edges = [e for e in scene.selected_edges() if e.src not in nodes and e.dst not in nodes]
        if not nodes and not edges:
            return
        if not edges:
            stack.push(RemoveNodesCommand(model, nodes))
            return
        if not nodes and len(edges) == 1:
            stack.push(DisconnectCommand(model, edges[0]))
            return
        count = len(nodes) + len(edges)
        stack.beginMacro(f"Delete {count} items")
        for edge in edges:
            stack.push(DisconnectCommand(model, edge))
        if nodes:
            stack.push(RemoveNodesCommand(model, nodes))
        stack.endMacro()

    # -- blocks and layout ------------------------------------------------------------

    def open_block(self, node_id: str) -> bool:
        """Open a closed block in place (undoable)."""
        return self._scene.open_block(node_id)

    def close_block(self, group_id: str) -> bool:
        """Close an open block (undoable); says why in ``message`` when it cannot."""
        return self._scene.close_block(group_id)

    def open_selected(self) -> bool:
        """Open the selected closed block, or close the open block the selection lies in."""
        ids = self._scene.selected_node_ids()
        if len(ids) == 1 and self.model.is_composite(ids[0]):
            return self.open_block(ids[0])
        groups = {self.model.group_of(n) for n in ids} - {None}
        if len(groups) == 1:
            return self.close_block(groups.pop())
        self.message.emit("Select a block to open, or a node inside an open block to close it")
        return False

    def group_selected(self) -> str | None:
        """Fold the selected nodes into a new Group block (Ctrl+G); returns its id, or None
        (with a ``message`` saying why)."""
        ids = self._scene.selected_node_ids()
        try:
            self.model.check_group(ids)
        except CompositeError as exc:
            self.message.emit(exc.message)
            return None
        self._scene.cancel_interaction()
        cmd = GroupCommand(self.model, ids)
        self.undo_stack.push(cmd)
        self.select_node(cmd.node_id, center=False)
        return cmd.node_id

    def ungroup_selected(self) -> bool:
        """Ctrl+Shift+G: open the selected closed block for good; with nodes of one open block
        selected, drop that block's frame (its nodes stay)."""
        model = self.model
        ids = self._scene.selected_node_ids()
        blocks = [n for n in ids if model.is_composite(n)]
        self._scene.cancel_interaction()
        if len(ids) == 1 and blocks:
            self.undo_stack.push(UngroupCommand(model, blocks[0]))
            return True
        groups = {model.group_of(n) for n in ids} - {None}
        if len(groups) == 1:
            self.undo_stack.push(DissolveGroupCommand(model, groups.pop()))
            return True
        self.message.emit("Select one block to ungroup")
        return False

    def arrange(self) -> None:
        """Lay every node out left to right (networkx layering, undoable), then zoom to fit.
        Open blocks are laid out as units, inside their frames. A graph much wider than the
        view wraps into bands, top to bottom, so that it shows bigger."""
        model, scene = self.model, self._scene
        if len(model) == 0:
            return
        sizes = {n: scene.node_item(n).size() for n in model.nodes()
                 if scene.node_item(n) is not None}
        rect = scene.items_rect()
        origin = (round(rect.left()), round(rect.top())) if not rect.isEmpty() else (0, 0)
        port = self.viewport().rect()
        window = (port.width() - 2 * FIT_MARGIN, port.height() - 2 * FIT_MARGIN)
        target = layout(model, sizes, origin, window=window)
        moves = {n: (model.node(n)["pos"], pos) for n, pos in target.items()
                 if tuple(model.node(n)["pos"]) != tuple(pos)}
        if moves:
            scene.cancel_interaction()
            self.undo_stack.push(ArrangeCommand(model, moves))
        self.zoom_to_fit()

    def select_node(self, node_id: str, center: bool = True) -> bool:
        """Select ``node_id`` alone (and centre the view on it). A node inside a closed
        block selects the block."""
        scene = self._scene
        item = self.shown_item(node_id)
        if item is None:
            return False
        scene.clearSelection()
        item.setSelected(True)
        if center:
            self._auto_fit = False
            self.centerOn(item.sceneBoundingRect().center())
        return True

    # -- display ------------------------------------------------------------------------

    def shown_item(self, node_id: str):
        """The item that shows ``node_id``: its own, or, for a node inside a closed block
        (a compiled call id such as ``"block1/conv1"``), the block's."""
        scene = self._scene
        while node_id and scene.node_item(node_id) is None and "/" in node_id:
            node_id = node_id.rsplit("/", 1)[0]
        return scene.node_item(node_id) if node_id else None

    def set_highlight(self, node_id: str | None) -> None:
        """Make ``node_id`` glow (the stepped node) and no other; None clears. A node inside
        a closed block lights up the block."""
        target = self.shown_item(node_id) if node_id else None
        for item in self._scene.node_items():
            item.set_highlight(item is target)

    def set_preview(self, node_id: str, values) -> None:
        """A sparkline inside the node (e.g. its activation mean); None hides it."""
        item = self._scene.node_item(node_id)
        if item is not None:
            item.set_preview(values)

    def zoom_level(self) -> float:
        return self.transform().m11()

    def auto_fit(self) -> bool:
        """True while the view refits the graph on every resize: from a document being set
        (or zoom to fit) until the user zooms or pans."""
        return self._auto_fit

    def fit_zoom(self) -> float:
        """The zoom at which the whole graph fits the viewport with FIT_MARGIN pixels around
        it (not capped at 100 %; 1.0 for an empty scene)."""
        rect = self._scene.items_rect()
        port = self.viewport().rect()
        if rect.isEmpty():
            return 1.0
        room_w = max(port.width() - 2 * FIT_MARGIN, 1)
        room_h = max(port.height() - 2 * FIT_MARGIN, 1)
        return min(room_w / rect.width(), room_h / rect.height())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor`` (view coordinates;
        the viewport centre by default) fixed, within [MIN_ZOOM, MAX_ZOOM]; the lower bound
        drops to the fit zoom for a graph too big to fit at MIN_ZOOM, so the wheel always
        reaches the whole graph. Ends :meth:`auto_fit`."""
        self._auto_fit = False
        current = self.zoom_level()
        low = min(MIN_ZOOM, self.fit_zoom(), current)
        target = min(max(current * factor, low), MAX_ZOOM)
        if abs(target - current) < 1e-9:
            return
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        before = self.mapToScene(anchor.toPoint())
        f = target / current
        self.scale(f, f)
        delta = self.mapFromScene(before) - anchor.toPoint()
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + delta.x())
        v.setValue(v.value() + delta.y())

    def pan_by(self, dx: float, dy: float) -> None:
        """Scroll the view by (dx, dy) viewport pixels (the scene moves the other way).
        Ends :meth:`auto_fit`."""
        self._auto_fit = False
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def zoom_to_fit(self) -> None:
        """Show the whole graph, centred, with FIT_MARGIN pixels around it, at 100 % or
        less (a big graph such as ResNet-50 is zoomed out as far as it takes; its nodes
        then draw in their simplified, far-away form). Until the user zooms or pans, the
        view fits again whenever it is resized."""
        self._auto_fit = True
        rect = self._scene.items_rect()
        self.resetTransform()
        if rect.isEmpty():
            self.centerOn(0, 0)
            return
        level = min(self.fit_zoom(), FIT_MAX_ZOOM)
        self.scale(level, level)
        self.centerOn(rect.center())

    def quick_add_menu(self, scene_pos: QPointF) -> QMenu:
        """A menu of every node type by category; choosing one adds it at ``scene_pos``."""
        menu = QMenu(self)
        for category, specs in self.model.registry.categories().items():
            menu.addSection(category)
            for spec in specs:
                action = QAction(spec.type, menu)
                action.setToolTip(spec.description)
                action.triggered.connect(
                    lambda checked=False, t=spec.type: self.add_node_at(t, scene_pos))
                menu.addAction(action)
        menu.setToolTipsVisible(True)
        return menu

    # -- Qt events ----------------------------------------------------------------------

    def _on_selection_changed(self) -> None:
        scene = self._scene
        ids = scene.selected_node_ids() if scene is not None else []
        selected = ids[0] if len(ids) == 1 else ""
        if selected != self._selected:
            self._selected = selected
            self.selected_node_changed.emit(selected)

    def showEvent(self, event):
        super().showEvent(event)
        if self._auto_fit:
            self.zoom_to_fit()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._auto_fit:
            self.zoom_to_fit()

    def wheelEvent(self, event):
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return super().wheelEvent(event)
        self.zoom_by(1.0015 ** delta, event.position())
        event.accept()

    def mousePressEvent(self, event):
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space):
            self._pan = PanInteraction(self, event.position())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._pan is not None:
            self._pan.mouse_move(event.position())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan.end()
            self._pan = None
            if self._space:
                self.viewport().setCursor(Qt.OpenHandCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event):
        pos = self.mapToScene(event.position().toPoint())
        item = self._scene.itemAt(pos, self.transform())
        on_frame = isinstance(item, GroupFrameItem) and item.hit(pos) is None
        if event.button() == Qt.LeftButton and (item is None or on_frame):
            self.quick_add_menu(pos).popup(event.globalPosition().toPoint())
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event):
        key = event.key()
        if key == Qt.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.OpenHandCursor)
            event.accept()
            return
        if key in (Qt.Key_Delete, Qt.Key_Backspace) and self._scene.interaction() is None:
            self.delete_selected()
            event.accept()
            return
        if key == Qt.Key_Escape and self._scene.interaction() is None:
            self._scene.clearSelection()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = False
            if self._pan is None:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event):
        self._space = False
        super().focusOutEvent(event)

    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        if not event.mimeData().hasFormat(NODE_MIME):
            event.ignore()
            return
        type_name = bytes(event.mimeData().data(NODE_MIME)).decode("utf-8")
        self.add_node_at(type_name, self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()

    def closeEvent(self, event):
        self.detach()
        super().closeEvent(event)
