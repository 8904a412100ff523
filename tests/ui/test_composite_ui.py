"""Blocks on the canvas, driven with real mouse events and the window's actions: open a
block in place, edit inside it, close it, undo all of that; group and ungroup; drag a
frame; arrange."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from playground.graph import GraphModel  # noqa: E402
from playground.project import Project  # noqa: E402
from playground.ui.canvas import CanvasView  # noqa: E402
from playground.ui.commands import OpenCompositeCommand, SetParamCommand  # noqa: E402


def resnet_graph() -> GraphModel:
    m = GraphModel()
    m.add_node("Input", {"shape": (8, 16, 16)}, (0, 0), "x")
    m.add_node("ResNetBasicBlock", {"in_channels": 8, "planes": 8}, (300, 0), "block1")
    m.add_node("ResNetBasicBlock", {"in_channels": 8, "planes": 16, "stride": 2}, (650, 0),
               "block2")
    m.add_node("AdaptiveAvgPool2d", {}, (1000, 0), "pool")
    m.connect("x", "output", "block1", "input")
    m.connect("block1", "output", "block2", "input")
    m.connect("block2", "output", "pool", "input")
    return m


def scene_state(view: CanvasView) -> dict:
    """What the scene shows: node items (with positions and ports), wires, frames."""
    sc = view.canvas_scene
    return {
        "nodes": {i.node_id: (round(i.pos().x(), 2), round(i.pos().y(), 2), tuple(i.inputs),
                              tuple(i.outputs), i.is_block) for i in sc.node_items()},
        "wires": sorted(str(w.edge) for w in sc.wire_items()),
        "labels": sorted(w.label_text() for w in sc.wire_items()),
        "frames": sorted(f.group_id for f in sc.frame_items()),
    }


def vpos(view: CanvasView, scene_pt: QPointF) -> QPoint:
    return view.mapFromScene(scene_pt)


def click(view, scene_pt, modifier=Qt.NoModifier):
    QTest.mouseClick(view.viewport(), Qt.LeftButton, modifier, vpos(view, scene_pt))


def double_click(view, scene_pt):
    QTest.mouseDClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, vpos(view, scene_pt))


def body_point(view, node_id) -> QPointF:
    """A point on the node's body, away from ports, params and buttons."""
    item = view.canvas_scene.node_item(node_id)
    r = item.body_rect()
    return item.mapToScene(QPointF(r.center().x(), r.bottom() - 8))


@pytest.fixture
def window(make_window):
    return make_window(Project(name="resnet", graph=resnet_graph().to_dict()))


def test_open_a_resnet_block_edit_a_conv_inside_close_it_and_undo_all(qtbot, window):
    w = window
    view, model, stack = w.canvas, w.model, w.undo_stack
    view.zoom_to_fit()
    before = model.to_dict()
    shown = scene_state(view)
    assert shown["frames"] == [] and shown["nodes"]["block1"][4]

    # double-click the closed block: it opens in place, in a frame
    double_click(view, body_point(view, "block1"))
    qtbot.waitUntil(lambda: "block1" not in model)
    assert model.groups() == ["block1"]
    frame = view.canvas_scene.frame_item("block1")
    assert frame is not None and frame.isVisible()
    assert frame.title() == "ResNetBasicBlock · block1"
    members = model.group_members("block1")
    assert "block1/conv2" in members
    for n in members:  # the frame holds every member
        item = view.canvas_scene.node_item(n)
        assert frame.rect().contains(item.mapRectToScene(item.body_rect()))
    assert model.state("block2").ok  # the outer wires were re-ended inside

    # select the conv inside and edit it in the inspector
    view.zoom_to_fit()
    click(view, body_point(view, "block1/conv2"))
    qtbot.waitUntil(lambda: w.inspector.node_id == "block1/conv2")
    bias = w.inspector.editor("bias")
    bias.setChecked(True)
    assert model.params("block1/conv2")["bias"] is True

    # close it with the frame's button
    frame = view.canvas_scene.frame_item("block1")
    click(view, frame.close_button_rect().center())
    qtbot.waitUntil(lambda: "block1" in model)
    assert model.groups() == [] and view.canvas_scene.frame_items() == []
    assert model.subgraph("block1").node("conv2").params["bias"] is True
    assert model.errors() == {}
    assert stack.count() == 3

    # undo all of it: the model and the scene are back where they started
    for _ in range(3):
        stack.undo()
    assert model.to_dict() == before
    assert scene_state(view) == shown
    # and redo gets the edit back
    for _ in range(3):
        stack.redo()
    assert model.subgraph("block1").node("conv2").params["bias"] is True
    assert scene_state(view)["frames"] == []


def test_header_double_click_closes_and_inner_blocks_close_first(qtbot):
    m = GraphModel()
    m.add_node("Input", {"shape": (4, 6, 6)}, (0, 0), "x")
    m.add_node("Inception", {"in_channels": 4, "ch1x1": 2, "ch3x3red": 2, "ch3x3": 3,
                             "ch5x5red": 2, "ch5x5": 3, "pool_proj": 2}, (300, 0), "inc")
    m.connect("x", "output", "inc", "input")
    stack = QUndoStack()
    view = CanvasView(m, stack)
    qtbot.addWidget(view)
    view.resize(1600, 900)
    view.show()
    before, shown = m.to_dict(), scene_state(view)
    assert view.open_block("inc")
    assert view.open_block("inc/branch2")
    sc = view.canvas_scene
    outer, inner = sc.frame_item("inc"), sc.frame_item("inc/branch2")
    assert outer.rect().contains(inner.rect()) and inner.zValue() > outer.zValue()
    view.zoom_to_fit()
    double_click(view, outer.header_rect().topLeft() + QPointF(40, 8))
    assert m.groups() == [] and "inc" in m
    assert m.to_dict() == before and scene_state(view) == shown
    stack.undo()  # reopens both, outer first
    assert m.groups() == ["inc", "inc/branch2"]
    assert sorted(f.group_id for f in sc.frame_items()) == ["inc", "inc/branch2"]


def test_the_open_button_opens_and_a_frame_drag_moves_the_whole_block(qtbot):
    m = resnet_graph()
    stack = QUndoStack()
    view = CanvasView(m, stack)
    qtbot.addWidget(view)
    view.resize(1600, 700)
    view.show()
    view.zoom_to_fit()
    item = view.canvas_scene.node_item("block2")
    click(view, item.mapToScene(item.open_button_rect().center()))
    assert m.groups() == ["block2"]
    view.zoom_to_fit()
    frame = view.canvas_scene.frame_item("block2")
    start = {n: m.node(n)["pos"] for n in m.group_members("block2")}
    grab = frame.header_rect().topLeft() + QPointF(60, 8)
    a, b = vpos(view, grab), vpos(view, grab + QPointF(0, 120))
    QTest.mousePress(view.viewport(), Qt.LeftButton, Qt.NoModifier, a)
    for k in range(1, 6):
        QTest.mouseMove(view.viewport(), a + (b - a) * k / 5)
    QTest.mouseRelease(view.viewport(), Qt.LeftButton, Qt.NoModifier, b)
    moved = {n: m.node(n)["pos"] for n in start}
    dy = {round(moved[n][1] - start[n][1]) for n in start}
    assert len(dy) == 1 and dy.pop() > 50
    assert all(moved[n][0] == start[n][0] for n in start)
    assert stack.undoText() == f"Move {len(start)} nodes"
    stack.undo()
    assert {n: m.node(n)["pos"] for n in start} == start


def test_group_and_ungroup_with_the_shortcuts_and_undo(qtbot, window):
    w = window
    model, view, stack = w.model, w.canvas, w.undo_stack
    before = model.to_dict()
    sc = view.canvas_scene
    for n in ("block1", "block2"):
        sc.node_item(n).setSelected(True)
    view.setFocus()
    QTest.keyClick(view, Qt.Key_G, Qt.ControlModifier)
    assert model.spec("group_1").type == "Group"
    assert [e.src for e in model.in_edges("group_1")] == ["x"]
    assert [e.dst for e in model.out_edges("group_1")] == ["pool"]
    assert sc.node_item("group_1").is_block and model.errors() == {}
    assert sc.selected_node_ids() == ["group_1"]
    # the inspector shows the group's own ports (the Group type declares none)
    w.inspector.set_node("group_1")
    ports = [p.name for p in model.input_ports("group_1")]
    assert ports and w.inspector.inputs_label.text() == "\n".join(
        f"{p}: (N, 8, 16, 16) ← x.output" for p in ports)
    assert w.inspector.outputs_label.text() == "\n".join(
        f"{p.name}: (N, 16, 8, 8)" for p in model.output_ports("group_1"))
    # ungroup the group: its two blocks come back (with their ids)
    QTest.keyClick(view, Qt.Key_G, Qt.ControlModifier | Qt.ShiftModifier)
    assert "group_1" not in model and {"block1", "block2"} <= set(model.nodes())
    stack.undo()
    stack.undo()
    assert model.to_dict() == before
    # a refused group says why on the status bar
    sc.clearSelection()
    sc.node_item("x").setSelected(True)
    w.group_action.trigger()
    assert "stays outside groups" in w.last_message


def test_ungroup_on_an_open_block_keeps_its_nodes_and_drops_the_frame(qtbot):
    m = resnet_graph()
    stack = QUndoStack()
    view = CanvasView(m, stack)
    qtbot.addWidget(view)
    stack.push(OpenCompositeCommand(m, "block1"))
    view.canvas_scene.node_item("block1/conv1").setSelected(True)
    assert view.ungroup_selected()
    assert m.groups() == [] and view.canvas_scene.frame_items() == []
    assert "block1/conv1" in m
    stack.undo()
    assert m.groups() == ["block1"] and view.canvas_scene.frame_item("block1") is not None


def test_arrange_lays_the_graph_out_left_to_right_in_one_undo_step(qtbot, window):
    w = window
    model, view, stack = w.model, w.canvas, w.undo_stack
    model.move_node("pool", (-500, 300))  # out of order
    view.open_block("block2")
    before = {n: model.node(n)["pos"] for n in model.nodes()}
    w.arrange_action.trigger()
    assert stack.undoText() == "Arrange"
    sc = view.canvas_scene
    for e in model.edges():
        src, dst = sc.node_item(e.src), sc.node_item(e.dst)
        assert src.sceneBoundingRect().center().x() < dst.sceneBoundingRect().center().x()
    frame = sc.frame_item("block2")
    for n in ("x", "block1", "pool"):
        assert not frame.rect().intersects(sc.node_item(n).mapRectToScene(
            sc.node_item(n).body_rect()))
    stack.undo()
    assert {n: model.node(n)["pos"] for n in model.nodes()} == before


def test_a_set_param_inside_then_close_is_one_subgraph_edit(qtbot):
    m = resnet_graph()
    stack = QUndoStack()
    view = CanvasView(m, stack)
    qtbot.addWidget(view)
    view.open_block("block1")
    stack.push(SetParamCommand(m, "block1/conv1", "out_channels", 12))
    assert view.canvas_scene.node_item("block1/bn1").is_invalid()
    assert view.close_block("block1")
    item = view.canvas_scene.node_item("block1")
    assert item.is_invalid()
    assert item.error_text().startswith("ResNetBasicBlock 'block1': BatchNorm2d 'bn1'")
    assert view.canvas_scene.wire_item(m.in_edges("block2")[0]).label_text() == "?"


def test_inspector_shows_a_small_eps_and_takes_scientific_notation(qtbot, window):
    w = window
    w.canvas.open_block("block1")
    w.inspector.set_node("block1/bn1")
    eps = w.inspector.editor("eps")
    assert eps.text() == "1e-05" and eps.value() == pytest.approx(1e-5)
    eps.lineEdit().selectAll()
    QTest.keyClicks(eps.lineEdit(), "1e-3")
    QTest.keyClick(eps.lineEdit(), Qt.Key_Return)
    assert w.model.params("block1/bn1")["eps"] == pytest.approx(1e-3)
    w.undo_stack.undo()
    assert w.model.params("block1/bn1")["eps"] == pytest.approx(1e-5)
    assert eps.text() == "1e-05"
