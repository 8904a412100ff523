"""The acceptance test: build XOR from an empty canvas the way a user does, train it in the
app, then undo the last wire.

Nodes come from the palette (its own MIME data, delivered to the canvas as drag-enter,
drag-move and drop events: ``QDrag.exec`` blocks offscreen), params are typed into the
inspector, wires are mouse drags on the canvas viewport from port to port, training is the
Train shortcut, and the undo is Ctrl+Z.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.graph import Edge  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


# ----------------------------------------------------------------------------- gestures


def drop_from_palette(window: MainWindow, type_name: str, at: QPoint) -> str:
    """Drag ``type_name`` from the palette and drop it at viewport point ``at``; returns the
    new node's id."""
    mime = window.node_palette.mime_data(type_name)
    vp = window.canvas.viewport()
    before = set(window.model.nodes())
    for cls in (QDragEnterEvent, QDragMoveEvent):
        event = cls(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, event)
        assert event.isAccepted(), f"the canvas refused a drag of {type_name}"
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    (new,) = set(window.model.nodes()) - before
    assert window.model.spec(new).type == type_name
    return new


def port_point(window: MainWindow, node: str, port: str, output: bool) -> QPoint:
    scene_pos = window.canvas.canvas_scene.port_scene_pos(node, port, output)
    return window.canvas.mapFromScene(scene_pos)


def mouse_drag(window: MainWindow, start: QPoint, end: QPoint, steps: int = 8) -> None:
    """Press the left button at ``start``, move with it held, release at ``end``."""
    vp = window.canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        p = QPointF(start) + (QPointF(end) - QPointF(start)) * (i / steps)
        move = QMouseEvent(QEvent.Type.MouseMove, p, QPointF(vp.mapToGlobal(p.toPoint())),
                           Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, move)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def wire(window: MainWindow, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
    """Drag a wire from an output port to an input port; returns the new edge."""
    before = set(window.model.edges())
    mouse_drag(window, port_point(window, src, src_port, True),
               port_point(window, dst, dst_port, False))
    (edge,) = set(window.model.edges()) - before
    assert edge == Edge(src, src_port, dst, dst_port)
    return edge


def type_into(qtbot, spin, text: str) -> None:
    edit = spin.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


# --------------------------------------------------------------------------------- test


def test_build_xor_from_the_palette_train_it_and_undo_the_last_wire(qtbot):
    w = MainWindow()  # an empty project
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.resize(1800, 1000)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=HANG_MS)
    model, insp = w.model, w.inspector
    assert len(model) == 0

    # -- drag five nodes from the palette; each drop selects the node in the inspector ----
    y = 260
    data = drop_from_palette(w, "Dataset", QPoint(110, y))
    assert insp.node_id == data
    insp.editor("dataset").setCurrentIndex(insp.editor("dataset").findData("xor"))
    type_into(qtbot, insp.editor("noise"), "0")
    fc1 = drop_from_palette(w, "Linear", QPoint(340, y))
    assert insp.node_id == fc1 and insp.editor("in_features").value() == 2
    type_into(qtbot, insp.editor("out_features"), "8")
    act = drop_from_palette(w, "Tanh", QPoint(570, y))
    fc2 = drop_from_palette(w, "Linear", QPoint(800, y))
    assert insp.node_id == fc2
    type_into(qtbot, insp.editor("out_features"), "2")
    loss = drop_from_palette(w, "CrossEntropyLoss", QPoint(1030, y))
    assert [model.spec(n).type for n in model.nodes()] == [
        "Dataset", "Linear", "Tanh", "Linear", "CrossEntropyLoss"]
    assert {k: model.params(data)[k] for k in ("dataset", "n_samples", "noise", "seed")} == {
        "dataset": "xor", "n_samples": 400, "noise": 0.0, "seed": 0}  # (the text params too)
    assert model.params(fc1)["out_features"] == 8 and model.params(fc2)["out_features"] == 2

    # -- wire them with mouse drags from port to port --------------------------------------
    wire(w, data, "x", fc1, "input")
    wire(w, fc1, "output", act, "input")
    wire(w, act, "output", fc2, "input")
    # fc2 still has the default in_features=2 but gets 8: red, with a one-click fix.
    scene = w.canvas.canvas_scene
    assert scene.node_item(fc2).is_invalid()
    assert "expects in_features=2, got 8" in scene.node_item(fc2).error_text()
    scene.clearSelection()
    scene.node_item(fc2).setSelected(True)
    assert insp.node_id == fc2 and insp.fix_button.text() == "Set in_features=8"
    insp.fix_button.click()
    assert model.params(fc2)["in_features"] == 8 and not scene.node_item(fc2).is_invalid()
    wire(w, fc2, "output", loss, "input")
    last = wire(w, data, "target", loss, "target")
    assert model.errors() == {}
    assert scene.wire_item(Edge(act, "output", fc2, "input")).label_text() == "(N, 8)"
    assert scene.wire_item(last).label_text() == "(N,)"

    # -- train in the app until the XOR is learnt --------------------------------------------
    w.pace.set_until_stopped(True)  # (still training when the undo below pauses it)
    w.canvas.setFocus()
    QTest.keyClick(w.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.worker is not None and not w.train_action.isEnabled()

    def learnt() -> bool:
        snap = w.worker.snapshot
        acc = snap.history.get("accuracy", (None, np.zeros(0)))[1]
        val = snap.history.get("val_accuracy", (None, np.zeros(0)))[1]
        return acc.size > 0 and acc.max() == 1.0 and val.size > 0 and val.max() >= 0.95

    qtbot.waitUntil(learnt, timeout=30_000)
    qtbot.waitUntil(lambda: w.curves.data("loss")[0].size > 10, timeout=HANG_MS)
    snap = w.worker.snapshot
    losses = snap.history["loss"][1]
    assert losses[-20:].mean() < 0.5 * losses[:5].mean()  # the loss fell
    # The decision boundary is XOR's: class 1 in quadrants I and III, class 0 in II and IV.
    # (Computed now on the worker: the snapshot's own is refreshed at 10 Hz only.)
    b = w.worker.call(lambda session: session.boundary()).result(10)
    assert b is not None and b.probs.shape == (80, 80, 2)
    xs, ys = np.linspace(*b.x_range, 80), np.linspace(*b.y_range, 80)

    def p1(x, y):
        return b.probs[np.abs(ys - y).argmin(), np.abs(xs - x).argmin(), 1]

    assert p1(0.6, 0.6) > 0.8 and p1(-0.6, -0.6) > 0.8
    assert p1(-0.6, 0.6) < 0.2 and p1(0.6, -0.6) < 0.2
    assert w.boundary.image_array() is not None and w.boundary.point_count() == 400

    # -- undo the last wire with Ctrl+Z: model and scene lose it, training pauses -----------
    assert w.undo_stack.undoText().startswith("Connect")
    w.canvas.setFocus()
    QTest.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert last not in model.edges() and model.edge_into(loss, "target") is None
    assert scene.wire_item(last) is None
    assert all(item.edge != last for item in scene.wire_items())
    assert len(model.edges()) == 4 and len(scene.wire_items()) == 4
    assert "nothing wired into its 'target' port" in model.errors()[loss]
    qtbot.waitUntil(lambda: not w.worker.running, timeout=HANG_MS)
    assert w.last_message.startswith("Paused: CrossEntropyLoss")
    w.redo_action.trigger()
    assert last in model.edges() and scene.wire_item(last) is not None
    w.shutdown()
