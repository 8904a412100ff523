"""The node canvas, driven with real mouse and key events on the view's viewport.

Every gesture test checks that the gesture really went through its interaction (the wire
being drawn is in the scene mid-drag), then asserts on the model and on the scene.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QUndoStack, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.graph import Edge, GraphModel  # noqa: E402
from playground.project import load  # noqa: E402
from playground.ui.canvas import (NODE_MIME, CanvasView, MoveNodesInteraction,  # noqa: E402
                                  NewWireInteraction)
from playground.ui.commands import (AddNodeCommand, ConnectCommand, MoveNodesCommand,  # noqa: E402
                                    RemoveNodesCommand, RenameNodeCommand, SetParamCommand)

FULL_WIRING = [
    Edge("data", "x", "fc1", "input"),
    Edge("fc1", "output", "tanh1", "input"),
    Edge("tanh1", "output", "fc2", "input"),
    Edge("fc2", "output", "loss", "input"),
    Edge("data", "target", "loss", "target"),
]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def model() -> GraphModel:
    """Dataset (2-D spirals, 2 classes) + Linear(2->8) + Tanh + Linear(8->2) + CE loss,
    not wired yet."""
    m = GraphModel()
    m.add_node("Dataset", {"dataset": "spirals"}, (0, 40), "data")
    m.add_node("Linear", {"in_features": 2, "out_features": 8}, (260, 0), "fc1")
    m.add_node("Tanh", {}, (520, 0), "tanh1")
    m.add_node("Linear", {"in_features": 8, "out_features": 2}, (780, 0), "fc2")
    m.add_node("CrossEntropyLoss", {}, (1040, 40), "loss")
    return m


@pytest.fixture
def stack() -> QUndoStack:
    return QUndoStack()


@pytest.fixture
def view(qtbot, model, stack) -> CanvasView:
    v = CanvasView(model, stack)
    qtbot.addWidget(v)
    v.resize(1400, 600)
    v.show()
    qtbot.waitExposed(v)
    v.centerOn(v.canvas_scene.items_rect().center())
    return v


def wire_all(model: GraphModel, edges=FULL_WIRING) -> None:
    for e in edges:
        model.connect(e.src, e.src_port, e.dst, e.dst_port)


# ------------------------------------------------------------------------------ helpers


def port_view_pos(view: CanvasView, node: str, port: str, output: bool) -> QPoint:
    return view.mapFromScene(view.canvas_scene.port_scene_pos(node, port, output))


def _move(view, pos: QPoint, buttons=Qt.LeftButton) -> None:
    vp = view.viewport()
    local = QPointF(pos)
    event = QMouseEvent(QEvent.MouseMove, local, QPointF(vp.mapToGlobal(pos)), Qt.NoButton,
                        buttons, Qt.NoModifier)
    QApplication.sendEvent(vp, event)


def drag(view: CanvasView, start: QPoint, end: QPoint, button=Qt.LeftButton, steps: int = 6,
         during=None) -> None:
    """Press at ``start``, move in ``steps`` to ``end`` with the button held, release.
    ``during()`` runs before the release (to check the gesture's intermediate state)."""
    vp = view.viewport()
    QTest.mousePress(vp, button, Qt.NoModifier, start)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        _move(view, QPoint(round(p.x()), round(p.y())), button)
    if during is not None:
        during()
    QTest.mouseRelease(vp, button, Qt.NoModifier, end)


def drag_wire(view, src: tuple, dst: tuple) -> list:
    """Drag from port ``src`` = (node, port, output) to port ``dst``; returns what the scene
    held mid-drag: [interaction, its temporary wire's end point in scene coordinates]."""
    seen = []

    def during():
        inter = view.canvas_scene.interaction()
        seen.append(inter)
        seen.append(inter.temp.path().currentPosition() if inter else None)

    drag(view, port_view_pos(view, *src), port_view_pos(view, *dst), during=during)
    return seen


def labels(view) -> dict[Edge, str]:
    return {w.edge: w.label_text() for w in view.canvas_scene.wire_items()}


# -------------------------------------------------------------------------------- tests


def test_scene_mirrors_the_model(view, model):
    scene = view.canvas_scene
    assert sorted(i.node_id for i in scene.node_items()) == sorted(model.nodes())
    fc1 = scene.node_item("fc1")
    assert fc1.pos().x() == 260 and fc1.pos().y() == 0
    # ports sit on the body's edges: inputs left, outputs right
    width, _ = fc1.size()
    assert scene.port_scene_pos("fc1", "input", False) == fc1.mapToScene(QPointF(0, fc1.inputs[
        "input"].pos().y()))
    assert scene.port_scene_pos("fc1", "output", True).x() == pytest.approx(260 + width)
    # unwired Linear is invalid and says what to connect
    assert fc1.is_invalid()
    assert fc1.error_text() == ("Linear 'fc1' has nothing wired into its 'input' port: "
                                "connect a tensor (N, *, in_features).")
    assert fc1.toolTip() == fc1.error_text()
    assert not scene.node_item("data").is_invalid()


def test_wire_the_network_with_mouse_drags(view, model, stack):
    scene = view.canvas_scene
    seen = drag_wire(view, ("data", "x", True), ("fc1", "input", False))
    # the drag went through the wire interaction, its temporary wire ending on the target
    assert isinstance(seen[0], NewWireInteraction)
    target = scene.port_scene_pos("fc1", "input", False)
    assert (seen[1] - target).manhattanLength() < 1.0
    assert scene.interaction() is None and seen[0].temp.scene() is None

    drag_wire(view, ("fc1", "output", True), ("tanh1", "input", False))
    drag_wire(view, ("tanh1", "output", True), ("fc2", "input", False))
    drag_wire(view, ("fc2", "output", True), ("loss", "input", False))
    drag_wire(view, ("data", "target", True), ("loss", "target", False))

    assert set(model.edges()) == set(FULL_WIRING)
    assert model.errors() == {}
    assert labels(view) == {
        Edge("data", "x", "fc1", "input"): "(N, 2)",
        Edge("fc1", "output", "tanh1", "input"): "(N, 8)",
        Edge("tanh1", "output", "fc2", "input"): "(N, 8)",
        Edge("fc2", "output", "loss", "input"): "(N, 2)",
        Edge("data", "target", "loss", "target"): "(N,)",
    }
    assert not any(w.is_invalid() for w in scene.wire_items())
    assert not any(n.is_invalid() for n in scene.node_items())
    assert stack.count() == 5
    assert [stack.text(i) for i in range(5)] == [
        "Connect data → fc1", "Connect fc1 → tanh1", "Connect tanh1 → fc2",
        "Connect fc2 → loss", "Connect data → loss"]

    # undo all, redo all: model and scene follow
    for _ in range(5):
        stack.undo()
    assert model.edges() == [] and scene.wire_items() == []
    for _ in range(5):
        stack.redo()
    assert set(model.edges()) == set(FULL_WIRING)
    assert labels(view)[Edge("fc1", "output", "tanh1", "input")] == "(N, 8)"


def test_drag_from_a_free_input_to_an_output_connects(view, model):
    seen = drag_wire(view, ("fc1", "input", False), ("data", "x", True))
    assert isinstance(seen[0], NewWireInteraction)
    assert model.edges() == [Edge("data", "x", "fc1", "input")]
    assert labels(view) == {Edge("data", "x", "fc1", "input"): "(N, 2)"}


def test_drop_on_a_node_body_snaps_to_its_input(view, model):
    body = view.canvas_scene.node_item("tanh1").sceneBoundingRect().center()
    drag(view, port_view_pos(view, "fc1", "output", True), view.mapFromScene(body))
    assert model.edges() == [Edge("fc1", "output", "tanh1", "input")]


def test_output_to_output_shows_the_models_error_on_the_target(view, model, stack, qtbot):
    scene = view.canvas_scene
    with qtbot.waitSignal(view.message) as msg:
        seen = drag_wire(view, ("fc1", "output", True), ("fc2", "output", True))
    assert isinstance(seen[0], NewWireInteraction)
    assert model.edges() == [] and stack.count() == 0 and scene.wire_items() == []
    fc2 = scene.node_item("fc2")
    expected = ("Cannot wire Linear 'fc1'.output to Linear 'fc2'.output: both are outputs. "
                "Drag from an output (right side) to an input (left side).")
    assert fc2.error_text() == expected
    assert msg.args == [expected]
    assert fc2.is_invalid() and fc2.toolTip() == expected
    # the error stays until the next successful edit, then clears
    drag_wire(view, ("data", "x", True), ("fc1", "input", False))
    assert model.edges() == [Edge("data", "x", "fc1", "input")]
    assert fc2.error_text() == ("Linear 'fc2' has nothing wired into its 'input' port: "
                                "connect a tensor (N, *, in_features).")


def test_input_to_input_is_refused_with_the_models_message(view, model):
    drag_wire(view, ("fc1", "input", False), ("fc2", "input", False))
    assert model.edges() == []
    # the model puts this one on the node the drag started from
    assert view.canvas_scene.node_item("fc1").error_text() == (
        "Cannot wire Linear 'fc1'.input to Linear 'fc2'.input: both are inputs. Drag from an "
        "output (right side) to an input (left side).")


def test_a_wire_that_closes_a_cycle_is_refused(view, model, stack):
    wire_all(model, FULL_WIRING[1:3])  # fc1 -> tanh1 -> fc2
    # fc2.output into tanh1? tanh1.input is taken, so go into fc1.input (free): a cycle
    drag_wire(view, ("fc2", "output", True), ("fc1", "input", False))
    assert set(model.edges()) == set(FULL_WIRING[1:3]) and stack.count() == 0
    fc1 = view.canvas_scene.node_item("fc1")
    assert fc1.error_text() == ("Wiring 'fc2' into 'fc1' would close a cycle: 'fc1' already "
                                "feeds 'fc2'. Networks here must be acyclic.")
    assert fc1.is_invalid()


def test_a_taken_input_is_refused(view, model):
    wire_all(model, FULL_WIRING[:1])
    drag_wire(view, ("tanh1", "output", True), ("fc1", "input", False))
    # dragging onto fc1.input from an output never picks its wire up
    assert model.edges() == [FULL_WIRING[0]]
    assert view.canvas_scene.node_item("fc1").error_text() == (
        "Linear 'fc1'.input already has a wire from 'data'.x. Remove that wire first.")


def test_in_features_mismatch_turns_the_node_and_its_wire_red(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    stack.push(SetParamCommand(model, "fc2", "in_features", 3))
    fc2 = scene.node_item("fc2")
    assert fc2.is_invalid()
    assert fc2.error_text() == ("Linear 'fc2' expects in_features=3, got 8 from 'tanh1'. "
                                "Set in_features=8.")
    assert "expects in_features=3, got 8" in " ".join(t[-1] for t in fc2._texts)
    wire = scene.wire_item(Edge("tanh1", "output", "fc2", "input"))
    assert wire.is_invalid() and wire.label_text() == "(N, 8)"
    # downstream is blocked (not red), and its wire label is unknown
    assert scene.node_item("loss").is_blocked() and not scene.node_item("loss").is_invalid()
    assert scene.wire_item(Edge("fc2", "output", "loss", "input")).label_text() == "?"
    stack.undo()
    assert not fc2.is_invalid() and not wire.is_invalid()
    assert scene.wire_item(Edge("fc2", "output", "loss", "input")).label_text() == "(N, 2)"


def test_undo_redo_add_node(view, model, stack):
    scene = view.canvas_scene
    node_id = view.add_node_at("ReLU", QPointF(300, 300))
    assert model.spec(node_id).type == "ReLU" and stack.text(0) == "Add ReLU"
    item = scene.node_item(node_id)
    assert item.isSelected()
    x, y = model.node(node_id)["pos"]
    assert (item.pos().x(), item.pos().y()) == (x, y)
    stack.undo()
    assert node_id not in model and scene.node_item(node_id) is None
    stack.redo()
    assert node_id in model and scene.node_item(node_id).pos().x() == x


def test_drop_from_the_palette_adds_a_node(view, model, stack):
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    mime = QMimeData()
    mime.setData(NODE_MIME, "Sigmoid".encode("utf-8"))
    at = QPoint(200, 450)
    for cls in (QDragEnterEvent, QDragMoveEvent):
        event = cls(at, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(view.viewport(), event)
        assert event.isAccepted()
    event = QDropEvent(QPointF(at), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), event)
    new = [n for n in model.nodes() if model.spec(n).type == "Sigmoid"]
    assert len(new) == 1 and stack.text(0) == "Add Sigmoid"
    # centred under the drop point, header at the cursor
    rect = view.canvas_scene.node_item(new[0]).sceneBoundingRect()
    drop = view.mapToScene(at)
    assert rect.left() < drop.x() < rect.right() and rect.top() < drop.y() < rect.bottom()


def test_moving_nodes_by_mouse_pushes_one_command(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    fc1 = scene.node_item("fc1")
    wire = scene.wire_item(Edge("fc1", "output", "tanh1", "input"))
    header = fc1.mapToScene(QPointF(40, 10))
    start = view.mapFromScene(header)
    seen = []
    drag(view, start, start + QPoint(100, 60), during=lambda: seen.append(scene.interaction()))
    assert isinstance(seen[0], MoveNodesInteraction)
    assert model.node("fc1")["pos"] == (360.0, 60.0)
    assert wire.path().elementAt(0).x == pytest.approx(scene.port_scene_pos(
        "fc1", "output", True).x())
    assert stack.count() == 1 and stack.text(0) == "Move fc1"
    stack.undo()
    assert model.node("fc1")["pos"] == (260.0, 0.0)
    assert (fc1.pos().x(), fc1.pos().y()) == (260.0, 0.0)
    # the wire followed the node back
    assert wire.path().elementAt(0).x == pytest.approx(scene.port_scene_pos(
        "fc1", "output", True).x())
    stack.redo()
    assert (fc1.pos().x(), fc1.pos().y()) == (360.0, 60.0)


def test_a_click_without_moving_pushes_nothing(view, stack):
    fc1 = view.canvas_scene.node_item("fc1")
    p = view.mapFromScene(fc1.mapToScene(QPointF(40, 10)))
    QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, p)
    assert stack.count() == 0 and fc1.isSelected()


def test_set_param_relabels_node_and_wires_and_merges(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    stack.push(SetParamCommand(model, "fc1", "out_features", 8))  # already 8: no step
    assert stack.count() == 0
    stack.push(SetParamCommand(model, "fc1", "out_features", 16))
    assert stack.text(0) == "Set fc1.out_features = 16"
    assert labels(view)[Edge("fc1", "output", "tanh1", "input")] == "(N, 16)"
    assert scene.node_item("fc2").is_invalid()  # fc2 expects 8
    stack.push(SetParamCommand(model, "fc1", "out_features", 32))
    assert stack.count() == 1 and stack.text(0) == "Set fc1.out_features = 32"
    texts = [t[-1] for t in scene.node_item("fc1")._texts]
    assert "32" in texts and "(N, 32)" in texts
    stack.undo()
    assert model.params("fc1")["out_features"] == 8
    assert labels(view)[Edge("fc1", "output", "tanh1", "input")] == "(N, 8)"
    assert not scene.node_item("fc2").is_invalid()
    # edits that end where they started leave no undo step
    stack.clear()
    stack.push(SetParamCommand(model, "fc1", "out_features", 16))
    stack.push(SetParamCommand(model, "fc1", "out_features", 8))
    assert stack.count() == 0 and model.params("fc1")["out_features"] == 8


def test_set_param_refuses_bad_values_before_pushing(model):
    from playground.graph import ParamError
    with pytest.raises(ParamError, match="must be ≥ 1, got 0"):
        SetParamCommand(model, "fc1", "out_features", 0)
    with pytest.raises(ParamError, match="has no param 'units'"):
        SetParamCommand(model, "fc1", "units", 3)


def test_delete_key_removes_a_node_and_undo_brings_back_its_wires(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    scene.node_item("tanh1").setSelected(True)
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Delete)
    assert "tanh1" not in model and scene.node_item("tanh1") is None
    assert len(model.edges()) == 3 and len(scene.wire_items()) == 3
    assert stack.text(0) == "Delete tanh1"
    assert scene.node_item("fc2").error_text().endswith("has nothing wired into its 'input' "
                                                        "port: connect a tensor (N, *, "
                                                        "in_features).")
    stack.undo()
    assert set(model.edges()) == set(FULL_WIRING)
    assert labels(view)[Edge("fc1", "output", "tanh1", "input")] == "(N, 8)"
    assert labels(view)[Edge("tanh1", "output", "fc2", "input")] == "(N, 8)"
    assert not any(n.is_invalid() for n in scene.node_items())
    stack.redo()
    assert "tanh1" not in model and len(scene.wire_items()) == 3


def test_backspace_deletes_selected_nodes_and_wires_in_one_step(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    scene.node_item("fc1").setSelected(True)
    scene.node_item("tanh1").setSelected(True)
    scene.wire_item(Edge("data", "target", "loss", "target")).setSelected(True)
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Backspace)
    assert sorted(model.nodes()) == ["data", "fc2", "loss"]
    assert model.edges() == [Edge("fc2", "output", "loss", "input")]
    assert stack.count() == 1 and stack.text(0) == "Delete 3 items"
    stack.undo()
    assert set(model.edges()) == set(FULL_WIRING) and len(scene.wire_items()) == 5


def test_rubber_band_selects_and_reports_the_node(view, qtbot):
    scene = view.canvas_scene
    rect = scene.node_item("fc1").sceneBoundingRect()
    a = view.mapFromScene(rect.topLeft() - QPointF(15, 15))
    b = view.mapFromScene(rect.bottomRight() + QPointF(15, 15))
    with qtbot.waitSignal(view.selected_node_changed) as sig:
        drag(view, a, b)
    assert sig.args == ["fc1"]
    assert scene.selected_node_ids() == ["fc1"]
    # a wider band takes two nodes: no single node any more
    c = view.mapFromScene(scene.node_item("tanh1").sceneBoundingRect().bottomRight()
                          + QPointF(15, 15))
    with qtbot.waitSignal(view.selected_node_changed) as sig:
        drag(view, a, c)
    assert sig.args == [""] and sorted(scene.selected_node_ids()) == ["fc1", "tanh1"]


def test_pick_up_a_wire_from_an_input(view, model, stack):
    wire_all(model)
    scene = view.canvas_scene
    old = Edge("tanh1", "output", "fc2", "input")
    # drop on empty space (below the nodes): the wire is removed
    start = port_view_pos(view, "fc2", "input", False)
    seen = []
    drag(view, start, start + QPoint(-60, 250),
         during=lambda: seen.append(scene.wire_item(old).isVisible()))
    assert seen == [False]  # the picked-up wire hid while the new one followed the cursor
    assert old not in model.edges() and scene.wire_item(old) is None
    assert stack.text(0) == "Disconnect tanh1 → fc2"
    stack.undo()
    assert old in model.edges() and scene.wire_item(old).isVisible()
    # drop on another free input: the wire moves there, in one undo step
    model.disconnect(Edge("fc2", "output", "loss", "input"))
    stack.clear()
    drag(view, start, port_view_pos(view, "loss", "input", False))
    moved = Edge("tanh1", "output", "loss", "input")
    assert moved in model.edges() and old not in model.edges()
    assert scene.wire_item(moved).label_text() == "(N, 8)" and scene.wire_item(old) is None
    assert stack.count() == 1 and stack.text(0) == "Reconnect tanh1 → loss"
    stack.undo()
    assert old in model.edges() and moved not in model.edges()
    assert scene.wire_item(old).isVisible()
    # a refused drop leaves the picked-up wire where it was
    drag(view, start, port_view_pos(view, "tanh1", "input", False))
    assert scene.node_item("tanh1").error_text() == (
        "Tanh 'tanh1'.input already has a wire from 'fc1'.output. Remove that wire first.")
    assert stack.count() == 1
    assert old in model.edges() and scene.wire_item(old).isVisible()


def test_escape_cancels_a_wire_being_drawn(view, model):
    scene = view.canvas_scene
    vp = view.viewport()
    start = port_view_pos(view, "fc1", "output", True)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, start)
    _move(view, start + QPoint(80, 0))
    inter = scene.interaction()
    assert isinstance(inter, NewWireInteraction) and inter.temp.scene() is scene
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Escape)
    assert scene.interaction() is None and inter.temp.scene() is None
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, port_view_pos(view, "tanh1", "input",
                                                                     False))
    assert model.edges() == []


def test_wheel_zooms_around_the_cursor(view):
    at = QPoint(300, 200)
    before = view.mapToScene(at)
    zoom = view.zoom_level()
    event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(0, 0),
                        QPoint(0, 240), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom_level() == pytest.approx(zoom * 1.0015 ** 240)
    after = view.mapToScene(at)
    assert (after - before).manhattanLength() < 2.0 / view.zoom_level()


def test_middle_button_pans(view):
    centre = view.viewport().rect().center()
    before = view.mapToScene(centre)
    drag(view, centre, centre + QPoint(120, -40), button=Qt.MiddleButton)
    after = view.mapToScene(centre)
    assert after.x() == pytest.approx(before.x() - 120, abs=1)
    assert after.y() == pytest.approx(before.y() + 40, abs=1)


def test_highlight_and_zoom_to_fit(view):
    view.set_highlight("fc1")
    scene = view.canvas_scene
    assert scene.node_item("fc1").is_highlighted()
    assert not scene.node_item("fc2").is_highlighted()
    view.zoom_to_fit()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(scene.items_rect())
    assert view.zoom_level() <= 1.0


def test_commands_text_and_rename(model, stack):
    stack.push(AddNodeCommand(model, "Linear", {"out_features": 4}, (10, 20)))
    assert stack.text(0) == "Add Linear" and model.params("linear_1")["out_features"] == 4
    stack.push(ConnectCommand(model, "fc1", "output", "tanh1", "input"))
    assert stack.text(1) == "Connect fc1 → tanh1"
    stack.push(RenameNodeCommand(model, "tanh1", "act"))
    assert stack.text(2) == "Rename tanh1 → act" and model.name("tanh1") == "act"
    stack.push(MoveNodesCommand(model, {"fc1": ((260, 0), (300, 10)),
                                        "fc2": ((780, 0), (800, 0))}))
    assert stack.text(3) == "Move 2 nodes" and model.node("fc2")["pos"] == (800.0, 0.0)
    stack.push(RemoveNodesCommand(model, ["fc1", "tanh1"]))
    assert stack.text(4) == "Delete 2 nodes" and model.edges() == []
    stack.undo()
    assert model.edges() == [Edge("fc1", "output", "tanh1", "input")]
    stack.undo()
    stack.undo()
    assert model.name("tanh1") == "tanh1" and model.node("fc1")["pos"] == (260.0, 0.0)


def test_view_of_a_preset_has_every_wire_labelled(qtbot):
    m = GraphModel.from_dict(load("spiral_mlp").graph)
    v = CanvasView(m, QUndoStack())
    qtbot.addWidget(v)
    got = {(w.edge.src, w.edge.dst): w.label_text() for w in v.canvas_scene.wire_items()}
    assert got == {("data", "fc1"): "(N, 2)", ("fc1", "relu1"): "(N, 64)",
                   ("relu1", "fc2"): "(N, 64)", ("fc2", "relu2"): "(N, 64)",
                   ("relu2", "fc3"): "(N, 64)", ("fc3", "loss"): "(N, 2)",
                   ("data", "loss"): "(N,)"}
    v.close()  # detaches from the model: later edits do not reach the dead scene
    m.set_param("fc1", "out_features", 5)
    assert v.canvas_scene.wire_items() == []


def test_space_drag_pans_instead_of_selecting(view):
    centre = view.viewport().rect().center()
    before = view.mapToScene(centre)
    view.setFocus()
    QTest.keyPress(view, Qt.Key_Space)
    drag(view, centre, centre + QPoint(-80, 30))
    QTest.keyRelease(view, Qt.Key_Space)
    after = view.mapToScene(centre)
    assert after.x() == pytest.approx(before.x() + 80, abs=1)
    assert after.y() == pytest.approx(before.y() - 30, abs=1)
    assert view.canvas_scene.selectedItems() == []


def test_quick_add_menu_adds_the_chosen_type_where_asked(view, model, stack):
    menu = view.quick_add_menu(QPointF(500, 400))
    actions = {a.text(): a for a in menu.actions() if not a.isSeparator()}
    assert {"Dataset", "Linear", "ReLU", "Tanh", "CrossEntropyLoss"} <= set(actions)
    actions["Tanh"].trigger()
    added = [n for n in model.nodes() if n not in ("data", "fc1", "tanh1", "fc2", "loss")]
    assert len(added) == 1 and model.spec(added[0]).type == "Tanh"
    assert view.canvas_scene.node_item(added[0]).sceneBoundingRect().contains(QPointF(500, 400))


def test_theme_switch_and_preview_relayout(view):
    from playground.ui.theme import LIGHT
    scene = view.canvas_scene
    view.set_theme(LIGHT)
    assert scene.style.theme is LIGHT and scene.node_item("fc1").style is scene.style
    fc1 = scene.node_item("fc1")
    height = fc1.size()[1]
    view.set_preview("fc1", [0.1, 0.5, 0.3])
    assert fc1.size()[1] > height
    view.set_preview("fc1", None)
    assert fc1.size()[1] == height


# ------------------------------------------------------------------ level of detail


def render(item, scale: float):
    """``item`` painted alone at ``scale`` (its level of detail) on a transparent image."""
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem
    box = item.boundingRect()
    image = QImage(int(box.width() * scale) + 2, int(box.height() * scale) + 2,
                   QImage.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.scale(scale, scale)
    painter.translate(-box.topLeft())
    item.paint(painter, QStyleOptionGraphicsItem(), None)
    painter.end()
    return image


def pixel(image, item, point: QPointF, scale: float):
    p = (point - item.boundingRect().topLeft()) * scale
    return image.pixelColor(int(p.x()), int(p.y()))


def near(a, b, tol: int = 24) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()),
               abs(a.blue() - b.blue())) <= tol


def test_zoomed_out_a_node_is_its_category_colour_with_its_type_in_big_letters(view):
    from playground.ui.canvas.style import FAR_LOD
    scene = view.canvas_scene
    fc1 = scene.node_item("fc1")
    st = fc1.style
    body = fc1.body_rect()
    low = QPointF(body.left() + 6, body.bottom() - 10)  # below the params, left of them
    category = st.category_color(fc1.model.spec("fc1").category)
    close, far = render(fc1, 1.0), render(fc1, FAR_LOD * 0.8)
    assert near(pixel(close, fc1, low, 1.0), st.body_brush.color())
    assert near(pixel(far, fc1, low, FAR_LOD * 0.8), category)
    assert fc1.far_texts() == ["Linear", "fc1"]
    from PySide6.QtGui import QFontMetricsF
    font = fc1._far_texts[0][0]
    assert QFontMetricsF(font).height() > 2 * st.title_fm.height()  # twice the header's
    # the view switches forms where the style says
    view.resetTransform()
    assert not fc1.is_far(view)
    view.zoom_by(FAR_LOD * 0.9)
    assert fc1.is_far(view)


def test_far_away_type_names_split_at_a_word_rather_than_shrink(qtbot):
    from playground.ui.canvas.node_item import title_lines
    assert title_lines("SinusoidalPositionalEncoding")[1:] == [
        ["Sinusoidal", "PositionalEncoding"], ["SinusoidalPositional", "Encoding"]]
    assert title_lines("Conv2d") == [["Conv2d"]] and title_lines("ReLU") == [["ReLU"]]
    assert title_lines("BatchNorm2d") == [["BatchNorm2d"], ["Batch", "Norm2d"]]
    m = GraphModel()
    m.add_node("SinusoidalPositionalEncoding", node_id="pe")
    m.add_node("ResNetBottleneck", node_id="layer1_0")
    v = CanvasView(m, QUndoStack())
    qtbot.addWidget(v)
    for node in ("pe", "layer1_0"):
        item = v.canvas_scene.node_item(node)
        texts = item.far_texts()
        assert len(texts) == 3 and texts[-1] == node  # two lines and the name
        assert "".join(texts[:2]) == m.spec(node).type  # nothing elided
        assert "…" not in "".join(texts)


def test_zoomed_out_wires_drop_their_labels_and_keep_a_visible_width(view, model):
    from playground.ui.canvas.style import FAR_LOD
    wire_all(model)
    wire = next(w for w in view.canvas_scene.wire_items() if w.edge.src == "fc1")
    label = wire.label_rect()
    probe = QPointF(label.left() + 3, label.top() + 3)  # inside the pill, off the wire
    scale = FAR_LOD * 0.8
    assert pixel(render(wire, 1.0), wire, probe, 1.0).alpha() == 255
    far = render(wire, scale)
    assert pixel(far, wire, probe, scale).alpha() == 0
    # the wire itself is still drawn, about FAR_WIRE_WIDTH screen pixels wide
    mid = wire.path().pointAtPercent(0.25)
    assert pixel(far, wire, mid, scale).alpha() > 100
